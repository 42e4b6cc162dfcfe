package oppo

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

const (
	vendorName     = "oppo"
	defaultBaseURL = "https://api.push.oppomobile.com"
	authPath       = "/server/v1/auth"
	unicastPath    = "/server/v1/message/notification/unicast"

	// OPPO's documented limits, in characters.
	maxTitle      = 50
	maxContent    = 50 // standard style (style 1)
	maxParameters = 4000
	minTTL        = time.Hour
	maxTTL        = 10 * 24 * time.Hour

	defaultTitle = "New message"
)

// ErrSilentUnsupported is the error inside the KindPayload *offlinepush.Error
// of a silent push: OPPO's server API has notification messages only.
var ErrSilentUnsupported = errors.New("oppo: OPPO PUSH has no data-only (silent) messages")

// Config configures a Client. The zero value of every field but the
// credentials works.
type Config struct {
	// AppKey and MasterSecret are the app's server credentials from the
	// OPPO PUSH platform (配置管理 > 应用配置). Required.
	AppKey       string
	MasterSecret string

	// BaseURL is the push API's root. Default
	// "https://api.push.oppomobile.com" (devices in mainland China);
	// "https://api-intl.push.oppomobile.com" serves devices elsewhere.
	BaseURL string
	// AuthURL is the auth_token endpoint. Default BaseURL + "/server/v1/auth".
	AuthURL string

	// ChannelID is the Android notification channel the app created
	// (channel_id). Default "": omitted, OPPO's default channel.
	ChannelID string
	// Category is the message category (category), e.g. "IM". Default "":
	// omitted.
	Category string
	// NotifyLevel is sent as notify_level with High pushes: 2 (notification
	// bar and lock screen) or 16 (also banner, sound and vibration). OPPO
	// accepts it only for apps granted a category. Default 0: omitted.
	NotifyLevel int
	// DefaultTitle is shown when a notification has a body but no title,
	// since OPPO requires one. Default "New message".
	DefaultTitle string

	// HTTPClient sends the requests. Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock for auth timestamps and token expiry. Default
	// time.Now.
	Now func() time.Time
}

// Client sends pushes through OPPO PUSH. It is safe for concurrent use.
type Client struct {
	cfg     Config
	sendURL string
	authURL string
	tokens  *offlinepush.AccessToken
}

var _ offlinepush.Vendor = (*Client)(nil)

// New returns a Client for cfg, filling in defaults. It fails if a
// credential is missing or a URL does not parse.
func New(cfg Config) (*Client, error) {
	if cfg.AppKey == "" {
		return nil, errors.New("oppo: Config.AppKey is required")
	}
	if cfg.MasterSecret == "" {
		return nil, errors.New("oppo: Config.MasterSecret is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = defaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.AuthURL == "" {
		cfg.AuthURL = cfg.BaseURL + authPath
	}
	for _, u := range []string{cfg.BaseURL, cfg.AuthURL} {
		if p, err := url.Parse(u); err != nil || p.Scheme == "" || p.Host == "" {
			return nil, errors.New("oppo: bad URL " + u)
		}
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
	c := &Client{cfg: cfg, sendURL: cfg.BaseURL + unicastPath, authURL: cfg.AuthURL}
	c.tokens = offlinepush.NewAccessToken(vendorName, cfg.Now, c.fetchToken)
	return c, nil
}

// Name returns "oppo".
func (c *Client) Name() string { return vendorName }

// Send pushes n to one device. An invalid auth_token answer makes it fetch
// a new token and send once more; it never retries otherwise.
func (c *Client) Send(ctx context.Context, n *offlinepush.Notification) error {
	if n.Silent || (n.Title == "" && n.Body == "") {
		return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindPayload, Code: "silent_unsupported", Err: ErrSilentUnsupported}
	}
	if n.Token == "" {
		return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindTokenInvalid, Code: "empty_token"}
	}
	message, err := json.Marshal(c.message(n))
	if err != nil {
		return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindPayload, Err: err}
	}
	// When OPPO no longer takes the cached token (revoked, or expired
	// early): one new token and one more try; this is auth, not a retry.
	err = c.tokens.Use(ctx, func(token string) (bool, error) {
		err := c.unicast(ctx, token, string(message))
		return invalidToken(err) != nil, err
	})
	if e := invalidToken(err); e != nil {
		e.Kind = offlinepush.KindAuth // refused with a fresh token too
	}
	return err
}

// unicastMessage is the message form field of a unicast push.
type unicastMessage struct {
	TargetType   int          `json:"target_type"`
	TargetValue  string       `json:"target_value"`
	Notification notification `json:"notification"`
}

type notification struct {
	Style            int    `json:"style"`
	Title            string `json:"title"`
	Content          string `json:"content"`
	ClickActionType  int    `json:"click_action_type"`
	ActionParameters string `json:"action_parameters,omitempty"`
	OffLine          bool   `json:"off_line"`
	OffLineTTL       int    `json:"off_line_ttl,omitempty"`
	ChannelID        string `json:"channel_id,omitempty"`
	Category         string `json:"category,omitempty"`
	NotifyLevel      int    `json:"notify_level,omitempty"`
	NotifyID         int    `json:"notify_id,omitempty"`
}

// message maps n to OPPO's message, cut to OPPO's limits.
func (c *Client) message(n *offlinepush.Notification) unicastMessage {
	title, body := n.Title, n.Body
	if title == "" {
		title = c.cfg.DefaultTitle
	}
	if body == "" {
		body = title // content is required
	}
	m := unicastMessage{
		TargetType:  2, // registration_id
		TargetValue: n.Token,
		Notification: notification{
			Style:            1,
			Title:            cut(title, maxTitle),
			Content:          cut(body, maxContent),
			ClickActionType:  0, // open the app
			ActionParameters: offlinepush.FitDataJSON(n.Data, maxParameters),
			OffLine:          true,
			ChannelID:        c.cfg.ChannelID,
			Category:         c.cfg.Category,
		},
	}
	if n.TTL > 0 {
		m.Notification.OffLineTTL = int(min(max(n.TTL, minTTL), maxTTL) / time.Second)
	}
	if n.High {
		m.Notification.NotifyLevel = c.cfg.NotifyLevel
	}
	if n.CollapseKey != "" {
		m.Notification.NotifyID = notifyID(n.CollapseKey)
	}
	return m
}

// notifyID maps a collapse key to a positive notify_id: pushes with the same
// key replace each other in the notification bar.
func notifyID(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	if id := int(h.Sum32() & 0x7fffffff); id != 0 {
		return id
	}
	return 1
}

// unicast sends one message with token. It returns nil or an
// *offlinepush.Error.
func (c *Client) unicast(ctx context.Context, token, message string) error {
	form := url.Values{"auth_token": {token}, "message": {message}}
	body, err := c.post(ctx, c.sendURL, form, token)
	if err != nil {
		return err
	}
	var resp apiResponse
	if err := json.Unmarshal(body, &resp); err != nil || !resp.hasCode() {
		return malformed(body, err)
	}
	if resp.code() == 0 {
		return nil
	}
	return codeError(resp.code(), resp.Message)
}
