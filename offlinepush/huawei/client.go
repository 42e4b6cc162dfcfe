package huawei

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

const name = "huawei"

const (
	// DefaultBaseURL is Push Kit's production server.
	DefaultBaseURL = "https://push-api.cloud.huawei.com"
	// DefaultAuthURL is Huawei's OAuth 2.0 token endpoint.
	DefaultAuthURL = "https://oauth-login.cloud.huawei.com/oauth2/v3/token"
	// defaultTimeout bounds one request when Config.HTTPClient is nil.
	defaultTimeout = 15 * time.Second
	// maxReply is how much of an answer is read: Huawei's are small JSON.
	maxReply = 64 << 10
)

// Config configures a Client. Its zero value is not usable: AppID and
// AppSecret are required; every other field has a default.
type Config struct {
	// AppID is the app's OAuth 2.0 client ID from AppGallery Connect; it is
	// also the {appId} of the send URL. Required.
	AppID string
	// AppSecret is the app's OAuth 2.0 client secret. Required.
	AppSecret string
	// BadgeClass is the app's launcher Activity
	// ("com.example.app.MainActivity"), which Push Kit needs to set the
	// icon badge. Default "": no badge is sent.
	BadgeClass string
	// Category is android.category, Huawei's message self-classification
	// ("IM"), which Huawei must first approve for the app. Default "": not
	// sent, Huawei classifies the message itself.
	Category string
	// BaseURL is Push Kit's server. Default DefaultBaseURL.
	BaseURL string
	// AuthURL is the OAuth 2.0 token endpoint. Default DefaultAuthURL.
	AuthURL string
	// HTTPClient sends every request. Default: a client with a 15 s timeout.
	HTTPClient *http.Client
	// Now is the clock that ages cached access tokens. Default time.Now.
	Now func() time.Time
}

// Client sends notifications through Huawei Push Kit. It is safe for
// concurrent use; all Sends share one cached access token.
type Client struct {
	cfg     Config
	sendURL string
	tokens  *offlinepush.AccessToken
}

var _ offlinepush.Vendor = (*Client)(nil)

// New checks cfg, fills its defaults and returns a Client. It does not
// contact Huawei: the first Send fetches the access token.
func New(cfg Config) (*Client, error) {
	if cfg.AppID == "" {
		return nil, errors.New("huawei: Config.AppID is required")
	}
	if cfg.AppSecret == "" {
		return nil, errors.New("huawei: Config.AppSecret is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.AuthURL == "" {
		cfg.AuthURL = DefaultAuthURL
	}
	for _, u := range []string{cfg.BaseURL, cfg.AuthURL} {
		if p, err := url.Parse(u); err != nil || p.Scheme == "" || p.Host == "" {
			return nil, fmt.Errorf("huawei: %q is not an absolute URL", u)
		}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: defaultTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{
		cfg:     cfg,
		sendURL: strings.TrimSuffix(cfg.BaseURL, "/") + "/v1/" + url.PathEscape(cfg.AppID) + "/messages:send",
	}
	c.tokens = offlinepush.NewAccessToken(name, cfg.Now, c.fetchToken)
	return c, nil
}

// Name returns "huawei".
func (c *Client) Name() string { return name }

// Send pushes n to one device. An access token that Huawei answers as
// expired is replaced once and the push sent again; every other failure is
// returned as an *offlinepush.Error without retrying.
func (c *Client) Send(ctx context.Context, n *offlinepush.Notification) error {
	body, err := c.buildRequest(n)
	if err != nil {
		return err
	}
	return c.tokens.Use(ctx, func(tok string) (bool, error) {
		return c.post(ctx, tok, body, n.Token)
	})
}

// sendReply is Push Kit's answer. For 80100000 msg is itself JSON listing
// the refused tokens.
type sendReply struct {
	Code      string `json:"code"`
	Msg       string `json:"msg"`
	RequestID string `json:"requestId"`
}

type partialResult struct {
	Success       int      `json:"success"`
	Failure       int      `json:"failure"`
	IllegalTokens []string `json:"illegal_tokens"`
}

// post sends one request. refresh reports that Huawei refused the access
// token as expired or unknown, in which case err is already a KindAuth
// error for the caller to return if a new token does not help.
func (c *Client) post(ctx context.Context, tok string, body []byte, token string) (refresh bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.sendURL, bytes.NewReader(body))
	if err != nil {
		return false, &offlinepush.Error{Vendor: name, Kind: offlinepush.KindAuth, Err: err}
	}
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, raw, err := offlinepush.Do(c.cfg.HTTPClient, req, name, maxReply)
	if err != nil {
		return false, err
	}
	var r sendReply
	_ = json.Unmarshal(raw, &r) // a non-JSON answer is judged by its status
	return c.classify(resp, &r, token)
}

// classify maps an answer to nil or an *offlinepush.Error; see doc.go for
// the table.
func (c *Client) classify(resp *http.Response, r *sendReply, token string) (refresh bool, err error) {
	status := resp.StatusCode
	e := &offlinepush.Error{Vendor: name, Status: status, Code: r.Code}
	if r.Msg != "" {
		e.Err = fmt.Errorf("huawei: %s (requestId %s)", r.Msg, r.RequestID)
	}
	if status == http.StatusOK || r.Code != "" {
		switch r.Code {
		case "80000000":
			if status == http.StatusOK {
				return false, nil
			}
		case "80100000":
			return false, partial(e, r.Msg, token)
		case "80300007":
			e.Kind = offlinepush.KindTokenInvalid
			return false, e
		case "80200001", "80200003", "80200005":
			e.Kind = offlinepush.KindAuth
			return true, e
		case "80300002", "80300013", "80600003":
			e.Kind = offlinepush.KindAuth
			return false, e
		case "81000001", "80100017":
			e.Kind = offlinepush.KindRetry
			e.RetryAfter = offlinepush.ParseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())
			return false, e
		case "80100001", "80100003", "80100004", "80100013", "80100016", "80100018",
			"80300008", "80300010", "80300011":
			e.Kind = offlinepush.KindPayload
			return false, e
		}
	}
	if status == http.StatusUnauthorized {
		e.Kind = offlinepush.KindAuth
		return true, e
	}
	// By the status alone: 429 and 5xx are transient (503 is Push Kit's
	// flow control); 403, and 404 for a wrong app ID in the URL, are
	// configuration; an unlisted code or a 400 without one refuses this
	// push, sending it again would not help.
	e.Kind = offlinepush.StatusKind(status)
	if e.Kind == offlinepush.KindRetry {
		e.RetryAfter = offlinepush.ParseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())
	}
	if e.Err == nil {
		e.Err = fmt.Errorf("huawei: send answered %s", resp.Status)
	}
	return false, e
}

// partial judges 80100000 for our single token: success if Huawei counted
// it as sent, token invalid if it lists it among illegal_tokens.
func partial(e *offlinepush.Error, msg, token string) error {
	var p partialResult
	if err := json.Unmarshal([]byte(msg), &p); err != nil {
		e.Kind = offlinepush.KindPayload
		return e
	}
	for _, t := range p.IllegalTokens {
		if t == token {
			e.Kind = offlinepush.KindTokenInvalid
			return e
		}
	}
	if p.Success > 0 {
		return nil
	}
	if p.Failure > 0 {
		e.Kind = offlinepush.KindTokenInvalid
		return e
	}
	e.Kind = offlinepush.KindPayload
	return e
}
