package meizu

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

const (
	vendorName      = "meizu"
	defaultBaseURL  = "https://server-api-push.meizu.com"
	varnishedPath   = "/garcia/api/server/push/varnished/pushByPushId"
	unvarnishedPath = "/garcia/api/server/push/unvarnished/pushByPushId"

	// Meizu's documented limits.
	maxTitle          = 32   // characters
	maxContent        = 100  // characters
	maxPassThrough    = 2000 // bytes
	maxParameters     = 1000 // bytes; undocumented, Meizu's customAttribute limit
	defaultValidHours = 24
	maxValidHours     = 72

	defaultTitle = "New message"
)

// Config configures a Client. The zero value of every field but the
// credentials works.
type Config struct {
	// AppID and AppSecret are the app's push credentials from the Flyme
	// developer platform. Required.
	AppID     string
	AppSecret string

	// BaseURL is the push API's root. Default
	// "https://server-api-push.meizu.com".
	BaseURL string
	// DefaultTitle is shown when a notification has a body but no title,
	// since Meizu requires one. Default "New message".
	DefaultTitle string

	// HTTPClient sends the requests. Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock for reading Retry-After dates. Default time.Now.
	Now func() time.Time
}

// Client sends pushes through Meizu Push. It is safe for concurrent use.
type Client struct {
	cfg            Config
	notifyURL      string
	passThroughURL string
}

var _ offlinepush.Vendor = (*Client)(nil)

// New returns a Client for cfg, filling in defaults. It fails if a
// credential is missing or BaseURL does not parse.
func New(cfg Config) (*Client, error) {
	switch {
	case cfg.AppID == "":
		return nil, errors.New("meizu: Config.AppID is required")
	case cfg.AppSecret == "":
		return nil, errors.New("meizu: Config.AppSecret is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = defaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if p, err := url.Parse(cfg.BaseURL); err != nil || p.Scheme == "" || p.Host == "" {
		return nil, errors.New("meizu: bad URL " + cfg.BaseURL)
	}
	if cfg.DefaultTitle == "" {
		cfg.DefaultTitle = defaultTitle
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{cfg: cfg, notifyURL: cfg.BaseURL + varnishedPath, passThroughURL: cfg.BaseURL + unvarnishedPath}, nil
}

// Name returns "meizu".
func (c *Client) Name() string { return vendorName }

// Send pushes n to one device: a notification, or a pass-through message
// when n is silent. It never retries.
func (c *Client) Send(ctx context.Context, n *offlinepush.Notification) error {
	if n.Token == "" {
		return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindTokenInvalid, Code: "empty_token"}
	}
	var endpoint string
	var message any
	if n.Silent || (n.Title == "" && n.Body == "") {
		endpoint = c.passThroughURL
		message = passThrough{Content: cmp.Or(offlinepush.FitDataJSON(n.Data, maxPassThrough), "{}"), PushTimeInfo: pushTime(n.TTL)}
	} else {
		endpoint, message = c.notifyURL, c.notification(n)
	}
	messageJSON, err := json.Marshal(message)
	if err != nil {
		return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindPayload, Err: err}
	}
	params := map[string]string{"appId": c.cfg.AppID, "pushIds": n.Token, "messageJson": string(messageJSON)}
	return c.post(ctx, endpoint, params)
}

// notification is a varnished (notification bar) messageJson.
type notification struct {
	NoticeBarInfo struct {
		NoticeBarType int    `json:"noticeBarType"`
		Title         string `json:"title"`
		Content       string `json:"content"`
	} `json:"noticeBarInfo"`
	ClickTypeInfo struct {
		ClickType  int             `json:"clickType"`
		Parameters json.RawMessage `json:"parameters,omitempty"`
	} `json:"clickTypeInfo"`
	PushTimeInfo pushTimeInfo `json:"pushTimeInfo"`
	AdvanceInfo  struct {
		Suspend        int    `json:"suspend"`
		ClearNoticeBar int    `json:"clearNoticeBar"`
		NotifyKey      string `json:"notifyKey,omitempty"`
	} `json:"advanceInfo"`
}

// passThrough is an unvarnished (pass-through) messageJson.
type passThrough struct {
	Content      string       `json:"content"`
	PushTimeInfo pushTimeInfo `json:"pushTimeInfo"`
}

type pushTimeInfo struct {
	OffLine   int `json:"offLine"`
	ValidTime int `json:"validTime"` // hours
}

// pushTime keeps the push for the TTL, in whole hours within Meizu's 1-72.
func pushTime(ttl time.Duration) pushTimeInfo {
	hours := defaultValidHours
	if ttl > 0 {
		hours = int(min((ttl+time.Hour-1)/time.Hour, maxValidHours))
	}
	return pushTimeInfo{OffLine: 1, ValidTime: hours}
}

// notification maps n to Meizu's notification, cut to Meizu's limits.
func (c *Client) notification(n *offlinepush.Notification) notification {
	title, body := n.Title, n.Body
	if title == "" {
		title = c.cfg.DefaultTitle
	}
	if body == "" {
		body = title // content is required
	}
	var m notification
	m.NoticeBarInfo.Title = cut(title, maxTitle)
	m.NoticeBarInfo.Content = cut(body, maxContent)
	m.ClickTypeInfo.ClickType = 0 // open the app
	if p := offlinepush.FitDataJSON(n.Data, maxParameters); p != "" {
		m.ClickTypeInfo.Parameters = json.RawMessage(p)
	}
	m.PushTimeInfo = pushTime(n.TTL)
	m.AdvanceInfo.ClearNoticeBar = 1
	if n.High {
		m.AdvanceInfo.Suspend = 1 // heads-up banner
	}
	if n.CollapseKey != "" {
		m.AdvanceInfo.NotifyKey = notifyKey(n.CollapseKey)
	}
	return m
}

// notifyKey maps a collapse key to Meizu's notifyKey: at most 8 characters
// of [0-9a-zA-Z_-], here 8 hex digits.
func notifyKey(key string) string {
	h := fnv.New32a()
	h.Write([]byte(key))
	return fmt.Sprintf("%08x", h.Sum32())
}

// sign is Meizu's request signature: the MD5 of the parameters sorted by
// name, written name=value without separators, followed by the secret.
func sign(params map[string]string, secret string) string {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params[k])
	}
	b.WriteString(secret)
	sum := md5.Sum([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}
