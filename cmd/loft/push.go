package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/loftchat/loft/offlinepush"
	"github.com/loftchat/loft/offlinepush/apns"
	"github.com/loftchat/loft/offlinepush/fcm"
	"github.com/loftchat/loft/offlinepush/honor"
	"github.com/loftchat/loft/offlinepush/huawei"
	"github.com/loftchat/loft/offlinepush/logvendor"
	"github.com/loftchat/loft/offlinepush/meizu"
	"github.com/loftchat/loft/offlinepush/oppo"
	"github.com/loftchat/loft/offlinepush/vivo"
	"github.com/loftchat/loft/offlinepush/webhook"
	"github.com/loftchat/loft/offlinepush/webpush"
	"github.com/loftchat/loft/offlinepush/xiaomi"
)

// pushFile is the --push-config file: one section per vendor account.
// A key is a vendor name, or "vendor@credential" for a further app or
// certificate of that vendor (a device registers its token with that
// credential name). Unknown keys and fields are errors.
type pushFile struct {
	Vendors   map[string]json.RawMessage `json:"vendors"`
	Templates offlinepush.Templates      `json:"templates"`
}

type fcmSection struct {
	CredentialsFile string `json:"credentials_file"` // the service-account JSON key
	ProjectID       string `json:"project_id"`
	BaseURL         string `json:"base_url"`
	AuthURL         string `json:"auth_url"`
}

type apnsSection struct {
	KeyFile     string `json:"key_file"` // the .p8 key
	KeyID       string `json:"key_id"`
	TeamID      string `json:"team_id"`
	Topic       string `json:"topic"`
	Development bool   `json:"development"`
	BaseURL     string `json:"base_url"`
}

// decodeStrict decodes a section, refusing unknown fields.
func decodeStrict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// newVendor builds one vendor account from its section.
func newVendor(name string, raw json.RawMessage) (offlinepush.Vendor, error) {
	switch name {
	case "log":
		var c struct {
			Max int `json:"max"`
		}
		if err := decodeStrict(raw, &c); err != nil {
			return nil, err
		}
		return logvendor.New(logvendor.Config{Max: c.Max}), nil
	case "fcm":
		var c fcmSection
		if err := decodeStrict(raw, &c); err != nil {
			return nil, err
		}
		creds, err := os.ReadFile(c.CredentialsFile)
		if err != nil {
			return nil, err
		}
		return fcm.New(fcm.Config{CredentialsJSON: creds, ProjectID: c.ProjectID, BaseURL: c.BaseURL, AuthURL: c.AuthURL})
	case "apns":
		var c apnsSection
		if err := decodeStrict(raw, &c); err != nil {
			return nil, err
		}
		key, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return nil, err
		}
		return apns.New(apns.Config{KeyP8: key, KeyID: c.KeyID, TeamID: c.TeamID, Topic: c.Topic, Development: c.Development, BaseURL: c.BaseURL})
	case "huawei":
		var c struct {
			AppID, AppSecret, BadgeClass, Category, BaseURL, AuthURL string
		}
		if err := decodeSnake(raw, &c); err != nil {
			return nil, err
		}
		return huawei.New(huawei.Config{AppID: c.AppID, AppSecret: c.AppSecret, BadgeClass: c.BadgeClass, Category: c.Category, BaseURL: c.BaseURL, AuthURL: c.AuthURL})
	case "honor":
		var c struct {
			AppID, ClientID, ClientSecret, BadgeClass, BaseURL, AuthURL string
		}
		if err := decodeSnake(raw, &c); err != nil {
			return nil, err
		}
		return honor.New(honor.Config{AppID: c.AppID, ClientID: c.ClientID, ClientSecret: c.ClientSecret, BadgeClass: c.BadgeClass, BaseURL: c.BaseURL, AuthURL: c.AuthURL})
	case "xiaomi":
		var c struct {
			AppSecret, PackageName, ChannelID, BaseURL string
		}
		if err := decodeSnake(raw, &c); err != nil {
			return nil, err
		}
		return xiaomi.New(xiaomi.Config{AppSecret: c.AppSecret, PackageName: c.PackageName, ChannelID: c.ChannelID, BaseURL: c.BaseURL})
	case "oppo":
		var c struct {
			AppKey, MasterSecret, ChannelID, Category, BaseURL, AuthURL string
		}
		if err := decodeSnake(raw, &c); err != nil {
			return nil, err
		}
		return oppo.New(oppo.Config{AppKey: c.AppKey, MasterSecret: c.MasterSecret, ChannelID: c.ChannelID, Category: c.Category, BaseURL: c.BaseURL, AuthURL: c.AuthURL})
	case "vivo":
		var c struct {
			AppID, AppKey, AppSecret, Category, BaseURL, AuthURL string
		}
		if err := decodeSnake(raw, &c); err != nil {
			return nil, err
		}
		return vivo.New(vivo.Config{AppID: c.AppID, AppKey: c.AppKey, AppSecret: c.AppSecret, Category: c.Category, BaseURL: c.BaseURL, AuthURL: c.AuthURL})
	case "meizu":
		var c struct {
			AppID, AppSecret, BaseURL string
		}
		if err := decodeSnake(raw, &c); err != nil {
			return nil, err
		}
		return meizu.New(meizu.Config{AppID: c.AppID, AppSecret: c.AppSecret, BaseURL: c.BaseURL})
	case "webpush":
		var c struct {
			VAPIDPublicKey, VAPIDPrivateKey, Subscriber string
		}
		if err := decodeSnake(raw, &c); err != nil {
			return nil, err
		}
		return webpush.New(webpush.Config{VAPIDPublicKey: c.VAPIDPublicKey, VAPIDPrivateKey: c.VAPIDPrivateKey, Subscriber: c.Subscriber})
	case "webhook":
		var c struct {
			URL, Secret string
		}
		if err := decodeSnake(raw, &c); err != nil {
			return nil, err
		}
		return webhook.New(webhook.Config{URL: c.URL, Secret: c.Secret})
	}
	return nil, fmt.Errorf("unknown vendor (known: %s)", strings.Join(knownVendors, ", "))
}

var knownVendors = []string{"apns", "fcm", "honor", "huawei", "log", "meizu", "oppo", "vivo", "webhook", "webpush"}

// decodeSnake decodes a section whose keys are the snake_case names of
// v's string fields (app_id for AppID), refusing unknown keys.
func decodeSnake(raw json.RawMessage, v any) error {
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("a section of this vendor holds only strings: %w", err)
	}
	camel := make(map[string]string, len(m))
	for k, val := range m {
		camel[strings.ReplaceAll(k, "_", "")] = val // json matches field names case-insensitively
	}
	b, _ := json.Marshal(camel)
	return decodeStrict(b, v)
}

// pushVendors builds the vendors: those --push-vendors names with no
// section (only log needs none), and every section of --push-config.
func pushVendors(cfg config) ([]offlinepush.Vendor, offlinepush.Templates, error) {
	sections := map[string]json.RawMessage{}
	var templates offlinepush.Templates
	if cfg.PushConfig != "" {
		data, err := os.ReadFile(cfg.PushConfig)
		if err != nil {
			return nil, nil, fmt.Errorf("push config: %w", err)
		}
		var f pushFile
		if err := decodeStrict(data, &f); err != nil {
			return nil, nil, fmt.Errorf("push config %s: %w", cfg.PushConfig, err)
		}
		sections, templates = f.Vendors, f.Templates
		if sections == nil {
			sections = map[string]json.RawMessage{}
		}
	}
	for _, name := range splitList(cfg.PushVendors) {
		if _, ok := sections[name]; !ok {
			sections[name] = json.RawMessage(`{}`)
		}
	}
	byName := map[string]*offlinepush.ByCredential{}
	keys := make([]string, 0, len(sections))
	for k := range sections {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name, cred, _ := strings.Cut(k, "@")
		v, err := newVendor(name, sections[k])
		if err != nil {
			return nil, nil, fmt.Errorf("push vendor %q: %w", k, err)
		}
		b := byName[name]
		if b == nil {
			b = &offlinepush.ByCredential{Named: map[string]offlinepush.Vendor{}}
			byName[name] = b
		}
		if cred == "" {
			b.Default = v
		} else {
			b.Named[cred] = v
		}
	}
	var out []offlinepush.Vendor
	for _, k := range keys {
		if b := byName[strings.SplitN(k, "@", 2)[0]]; b != nil {
			out = append(out, b)
			delete(byName, strings.SplitN(k, "@", 2)[0])
		}
	}
	return out, templates, nil
}
