package vivo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	vendorName     = "vivo"
	defaultBaseURL = "https://api-push.vivo.com.cn"
	authPath       = "/message/auth"
	sendPath       = "/message/send"

	// vivo's documented limits, a Chinese character counting two.
	maxTitle      = 40
	maxContent    = 100
	maxCustomKeys = 10
	maxCustomLen  = 1024
	minTTL        = 900 * time.Second
	maxTTL        = 7 * 24 * time.Hour

	defaultTitle    = "New message"
	defaultCategory = "IM"
)

// ErrSilentUnsupported is the error inside the KindPayload *offlinepush.Error
// of a silent push: vivo's server API has notification messages only.
var ErrSilentUnsupported = errors.New("vivo: vivo Push has no data-only (silent) messages")

// Config configures a Client. The zero value of every field but the
// credentials works.
type Config struct {
	// AppID, AppKey and AppSecret are the app's push credentials from the
	// vivo developer platform (消息推送 > 应用信息). Required.
	AppID     string
	AppKey    string
	AppSecret string

	// BaseURL is the push API's root. Default "https://api-push.vivo.com.cn".
	BaseURL string
	// AuthURL is the authToken endpoint. Default BaseURL + "/message/auth".
	AuthURL string

	// Operational sends operational messages (classification 0, limited to
	// daytime and a daily quota) instead of system messages (classification
	// 1, category IM), which need vivo's approval. Default false.
	Operational bool
	// Category is vivo's second-level category. Default "IM" for system
	// messages, none for operational ones.
	Category string
	// Test sends test pushes (pushMode 1), which reach only the test
	// devices registered on vivo's platform; apps under review can send
	// nothing else. Default false.
	Test bool
	// DefaultTitle is shown when a notification has a body but no title,
	// since vivo requires one. Default "New message".
	DefaultTitle string

	// HTTPClient sends the requests. Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock for auth timestamps and token age. Default time.Now.
	Now func() time.Time
}

// Client sends pushes through vivo Push. It is safe for concurrent use.
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
	switch {
	case cfg.AppID == "":
		return nil, errors.New("vivo: Config.AppID is required")
	case cfg.AppKey == "":
		return nil, errors.New("vivo: Config.AppKey is required")
	case cfg.AppSecret == "":
		return nil, errors.New("vivo: Config.AppSecret is required")
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
			return nil, errors.New("vivo: bad URL " + u)
		}
	}
	if cfg.Category == "" && !cfg.Operational {
		cfg.Category = defaultCategory
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
	c := &Client{cfg: cfg, sendURL: cfg.BaseURL + sendPath, authURL: cfg.AuthURL}
	c.tokens = offlinepush.NewAccessToken(vendorName, cfg.Now, c.fetchToken)
	return c, nil
}

// Name returns "vivo".
func (c *Client) Name() string { return vendorName }

// Send pushes n to one device. An authentication-failed answer makes it
// fetch a new token and send once more; it never retries otherwise.
func (c *Client) Send(ctx context.Context, n *offlinepush.Notification) error {
	if n.Silent || (n.Title == "" && n.Body == "") {
		return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindPayload, Code: "silent_unsupported", Err: ErrSilentUnsupported}
	}
	if n.Token == "" {
		return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindTokenInvalid, Code: "empty_token"}
	}
	req := c.request(n)
	// When vivo no longer takes the cached token: one new token and one
	// more try; this is auth, not a retry of the push.
	err := c.tokens.Use(ctx, func(token string) (bool, error) {
		err := c.send(ctx, token, req)
		return invalidToken(err) != nil, err
	})
	if e := invalidToken(err); e != nil {
		e.Kind = offlinepush.KindAuth // refused with a fresh token too
	}
	return err
}

// sendRequest is the JSON body of /message/send.
type sendRequest struct {
	AppID           string            `json:"appId"`
	RegID           string            `json:"regId"`
	NotifyType      int               `json:"notifyType"`
	Title           string            `json:"title"`
	Content         string            `json:"content"`
	TimeToLive      int               `json:"timeToLive,omitempty"`
	SkipType        int               `json:"skipType"`
	NetworkType     int               `json:"networkType"`
	Classification  int               `json:"classification"`
	Category        string            `json:"category,omitempty"`
	PushMode        int               `json:"pushMode,omitempty"`
	NotifyID        int               `json:"notifyId,omitempty"`
	ClientCustomMap map[string]string `json:"clientCustomMap,omitempty"`
	RequestID       string            `json:"requestId"`
}

// request maps n to vivo's request, cut to vivo's limits. The requestId is
// set per attempt by send.
func (c *Client) request(n *offlinepush.Notification) sendRequest {
	title, body := n.Title, n.Body
	if title == "" {
		title = c.cfg.DefaultTitle
	}
	if body == "" {
		body = title // content is required
	}
	r := sendRequest{
		AppID:           c.cfg.AppID,
		RegID:           n.Token,
		NotifyType:      4, // sound and vibration
		Title:           cut(title, maxTitle),
		Content:         cut(body, maxContent),
		SkipType:        1, // open the app
		NetworkType:     -1,
		Classification:  1, // system message
		Category:        c.cfg.Category,
		ClientCustomMap: fitData(n.Data),
	}
	if c.cfg.Operational {
		r.Classification = 0
	}
	if c.cfg.Test {
		r.PushMode = 1
	}
	if n.TTL > 0 {
		r.TimeToLive = int(min(max(n.TTL, minTTL), maxTTL) / time.Second)
	}
	if n.CollapseKey != "" {
		r.NotifyID = notifyID(n.CollapseKey)
	}
	return r
}

// notifyID maps a collapse key to a positive notifyId: pushes with the same
// key replace each other in the notification bar.
func notifyID(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	if id := int(h.Sum32() & 0x7fffffff); id != 0 {
		return id
	}
	return 1
}

// requestID returns a new request id: vivo wants one unique per request,
// at most 64 characters.
func requestID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// sendAnswer is the answer of /message/send.
type sendAnswer struct {
	apiAnswer
	TaskID      string `json:"taskId"`
	InvalidUser *struct {
		Status int `json:"status"`
	} `json:"invalidUser"`
}

// send posts one push with token. It returns nil or an *offlinepush.Error.
func (c *Client) send(ctx context.Context, token string, r sendRequest) error {
	r.RequestID = requestID()
	body, err := c.post(ctx, c.sendURL, r, token)
	if err != nil {
		return err
	}
	var a sendAnswer
	if err := json.Unmarshal(body, &a); err != nil || !a.hasResult() {
		return malformed(body, err)
	}
	if a.result() == 0 {
		return nil
	}
	e := resultError(a.result(), a.Desc)
	if a.InvalidUser != nil {
		switch a.InvalidUser.Status {
		case 1, 2, 3: // not found, uninstalled or notifications off, offline 90 days
			e.Kind = offlinepush.KindTokenInvalid
		}
	}
	return e
}
