package honor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

const name = "honor"

const (
	// DefaultBaseURL is Honor Push's production server.
	DefaultBaseURL = "https://push-api.cloud.honor.com"
	// DefaultAuthURL is Honor's OAuth 2.0 token endpoint.
	DefaultAuthURL = "https://iam.developer.honor.com/auth/token"
	// defaultTimeout bounds one request when Config.HTTPClient is nil.
	defaultTimeout = 15 * time.Second
	// maxReply is how much of an answer is read: Honor's are small JSON.
	maxReply = 64 << 10
)

// Config configures a Client. Its zero value is not usable: AppID,
// ClientID and ClientSecret are required; every other field has a default.
type Config struct {
	// AppID is the app's APP ID on Honor's developer platform: the {appId}
	// of the send URL. Required.
	AppID string
	// ClientID is the app's push Client ID, used to get access tokens.
	// Required.
	ClientID string
	// ClientSecret is the app's push Client Secret (not its App Secret).
	// Required.
	ClientSecret string
	// BadgeClass is the app's launcher Activity
	// ("com.example.app.MainActivity"), which Honor needs to set the icon
	// badge. Default "": no badge is sent.
	BadgeClass string
	// BaseURL is Honor Push's server. Default DefaultBaseURL.
	BaseURL string
	// AuthURL is the OAuth 2.0 token endpoint. Default DefaultAuthURL.
	AuthURL string
	// HTTPClient sends every request. Default: a client with a 15 s timeout.
	HTTPClient *http.Client
	// Now is the clock that ages cached access tokens and stamps the
	// timestamp header. Default time.Now.
	Now func() time.Time
}

// Client sends notifications through Honor Push. It is safe for concurrent
// use; all Sends share one cached access token.
type Client struct {
	cfg     Config
	sendURL string
	tokens  *offlinepush.AccessToken
}

var _ offlinepush.Vendor = (*Client)(nil)

// New checks cfg, fills its defaults and returns a Client. It does not
// contact Honor: the first Send fetches the access token.
func New(cfg Config) (*Client, error) {
	switch {
	case cfg.AppID == "":
		return nil, errors.New("honor: Config.AppID is required")
	case cfg.ClientID == "":
		return nil, errors.New("honor: Config.ClientID is required")
	case cfg.ClientSecret == "":
		return nil, errors.New("honor: Config.ClientSecret is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.AuthURL == "" {
		cfg.AuthURL = DefaultAuthURL
	}
	for _, u := range []string{cfg.BaseURL, cfg.AuthURL} {
		if p, err := url.Parse(u); err != nil || p.Scheme == "" || p.Host == "" {
			return nil, fmt.Errorf("honor: %q is not an absolute URL", u)
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
		sendURL: strings.TrimSuffix(cfg.BaseURL, "/") + "/api/v1/" + url.PathEscape(cfg.AppID) + "/sendMessage",
	}
	c.tokens = offlinepush.NewAccessToken(name, cfg.Now, c.fetchToken)
	return c, nil
}

// Name returns "honor".
func (c *Client) Name() string { return name }

// Send pushes n to one device. An access token that Honor refuses is
// replaced once and the push sent again; every other failure is returned
// as an *offlinepush.Error without retrying.
func (c *Client) Send(ctx context.Context, n *offlinepush.Notification) error {
	body, err := c.buildRequest(n)
	if err != nil {
		return err
	}
	return c.tokens.Use(ctx, func(tok string) (bool, error) {
		return c.post(ctx, tok, body, n.Token)
	})
}

// sendReply is Honor's answer: {"code":200,"message":"success","data":
// {"sendResult":true,"requestId":..,"failTokens":[..],"expireTokens":[..]}}.
// code may come as a number or a string; msg is accepted for the
// Huawei-style answers.
type sendReply struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
	Msg     string          `json:"msg"`
	Data    struct {
		SendResult   *bool    `json:"sendResult"`
		RequestID    string   `json:"requestId"`
		FailTokens   []string `json:"failTokens"`
		ExpireTokens []string `json:"expireTokens"`
	} `json:"data"`
}

// post sends one request. refresh reports that Honor refused the access
// token, in which case err is already a KindAuth error for the caller to
// return if a new token does not help.
func (c *Client) post(ctx context.Context, tok string, body []byte, token string) (refresh bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.sendURL, bytes.NewReader(body))
	if err != nil {
		return false, &offlinepush.Error{Vendor: name, Kind: offlinepush.KindAuth, Err: err}
	}
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("timestamp", strconv.FormatInt(c.cfg.Now().UnixMilli(), 10))
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
	code := rawCode(r.Code)
	e := &offlinepush.Error{Vendor: name, Status: status, Code: code}
	if msg := r.Message + r.Msg; msg != "" {
		e.Err = fmt.Errorf("honor: %s (requestId %s)", msg, r.Data.RequestID)
	}
	listed := slices.Contains(r.Data.ExpireTokens, token) || slices.Contains(r.Data.FailTokens, token)
	if status == http.StatusOK || code != "" {
		switch code {
		case "200", "80000000", "80100000":
			if listed {
				// Honor names the token it could not push to: expired
				// or not a token of this app.
				e.Kind = offlinepush.KindTokenInvalid
				return false, e
			}
			if code != "80100000" && r.Data.SendResult != nil && !*r.Data.SendResult {
				// Not sent, and no token blamed: a transient failure.
				e.Kind = offlinepush.KindRetry
				return false, e
			}
			if status == http.StatusOK {
				return false, nil
			}
		case "80300007":
			e.Kind = offlinepush.KindTokenInvalid
			return false, e
		case "80200001", "80200003":
			e.Kind = offlinepush.KindAuth
			return true, e
		case "80300002", "80600003":
			e.Kind = offlinepush.KindAuth
			return false, e
		case "81000001":
			e.Kind = offlinepush.KindRetry
			e.RetryAfter = offlinepush.ParseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())
			return false, e
		case "80100001", "80100003", "80100004", "80100013", "80100016",
			"80300008", "80300010":
			e.Kind = offlinepush.KindPayload
			return false, e
		}
	}
	if status == http.StatusUnauthorized {
		e.Kind = offlinepush.KindAuth
		return true, e
	}
	// By the status alone: 429 and 5xx are transient; 403, and 404 for a
	// wrong app ID in the URL, are configuration; an unlisted code or a 400
	// without one refuses this push, sending it again would not help.
	e.Kind = offlinepush.StatusKind(status)
	if e.Kind == offlinepush.KindRetry {
		e.RetryAfter = offlinepush.ParseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())
	}
	if e.Err == nil {
		e.Err = fmt.Errorf("honor: send answered %s", resp.Status)
	}
	return false, e
}
