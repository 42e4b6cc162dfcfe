package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

// Name is the vendor name Client reports and puts in its errors.
const Name = "webhook"

const (
	// DefaultMaxBody keeps a request forwardable as one APNs or FCM push,
	// whose payloads are limited to 4 KB.
	DefaultMaxBody = 4096
	minBody        = 1024
	minSecret      = 16
)

// Config configures a Client.
type Config struct {
	// URL is the app's endpoint that receives the pushes, http or https.
	// Required.
	URL string
	// Secret is the HMAC-SHA256 key the requests are signed with, shared
	// with the receiver; at least 16 bytes. Required.
	Secret string
	// HTTPClient sends the requests. Default: a client with a 10 s timeout.
	// Redirects are never followed (a copy of the client is used).
	HTTPClient *http.Client
	// Now is the clock for signature timestamps and Retry-After dates.
	// Default time.Now.
	Now func() time.Time
	// MaxBody caps the JSON request body, at least 1024 bytes; the title
	// and body are cut to fit. Default DefaultMaxBody (4096).
	MaxBody int
}

// Client posts notifications to the app's own push service. It is safe
// for concurrent use.
type Client struct {
	url     string
	secret  []byte
	http    *http.Client
	now     func() time.Time
	maxBody int
}

var _ offlinepush.Vendor = (*Client)(nil)

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("webhook: Config.URL is required")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("webhook: Config.URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook: Config.URL %q is not an http or https URL", cfg.URL)
	}
	if cfg.Secret == "" {
		return nil, errors.New("webhook: Config.Secret is required")
	}
	if len(cfg.Secret) < minSecret {
		return nil, fmt.Errorf("webhook: Config.Secret is %d bytes, want at least %d", len(cfg.Secret), minSecret)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxBody < minBody {
		return nil, fmt.Errorf("webhook: Config.MaxBody %d is under %d", cfg.MaxBody, minBody)
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc.Timeout = 10 * time.Second
	}
	// A redirected POST turns into a GET without the push; a moved
	// endpoint is a configuration to fix.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{url: cfg.URL, secret: []byte(cfg.Secret), http: &hc, now: cfg.Now, maxBody: cfg.MaxBody}, nil
}

// Name returns "webhook".
func (c *Client) Name() string { return Name }

// Payload is the JSON body of a request: the Notification as it is.
// Badge is null to leave the badge as it is; Data is always an object.
type Payload struct {
	Token       string            `json:"token"`
	Platform    string            `json:"platform"`
	Credential  string            `json:"credential"`
	Title       string            `json:"title"`
	Body        string            `json:"body"`
	Data        map[string]string `json:"data"`
	Badge       *int              `json:"badge"`
	CollapseKey string            `json:"collapse_key"`
	Silent      bool              `json:"silent"`
	Sound       string            `json:"sound"`
	TTLSeconds  int64             `json:"ttl_seconds"`
	High        bool              `json:"high"`
}

// errTooLarge is a Notification whose fields other than the preview do
// not fit MaxBody.
var errTooLarge = errors.New("webhook: notification does not fit Config.MaxBody")

// Send posts n, signed, to the configured URL.
func (c *Client) Send(ctx context.Context, n *offlinepush.Notification) error {
	p := Payload{
		Token:       n.Token,
		Platform:    n.Platform,
		Credential:  n.Credential,
		Title:       n.Title,
		Body:        n.Body,
		Data:        n.Data,
		Badge:       n.Badge,
		CollapseKey: n.CollapseKey,
		Silent:      n.Silent,
		Sound:       n.Sound,
		TTLSeconds:  int64(n.TTL / time.Second),
		High:        n.High,
	}
	if p.Data == nil {
		p.Data = map[string]string{}
	}
	body, err := fit(p, c.maxBody)
	if err != nil {
		return &offlinepush.Error{Vendor: Name, Kind: offlinepush.KindPayload, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return &offlinepush.Error{Vendor: Name, Kind: offlinepush.KindAuth, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, sign(c.secret, c.now(), body))

	resp, err := c.http.Do(req)
	if err != nil {
		return &offlinepush.Error{Vendor: Name, Kind: offlinepush.KindRetry, Err: err}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return c.classify(resp, answer)
}

// classify maps the receiver's refusal to an error kind (doc.go lists
// them).
func (c *Client) classify(resp *http.Response, body []byte) error {
	e := &offlinepush.Error{Vendor: Name, Status: resp.StatusCode}
	var answer struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &answer) == nil {
		e.Code = answer.Error
	}
	if text := strings.TrimSpace(string(body)); text != "" {
		e.Err = errors.New(offlinepush.Truncate(text, 200))
	}
	switch s := resp.StatusCode; {
	case s == http.StatusGone:
		e.Kind = offlinepush.KindTokenInvalid
	case s == http.StatusTooManyRequests || s == http.StatusRequestTimeout || s >= 500:
		e.Kind = offlinepush.KindRetry
		e.RetryAfter = offlinepush.ParseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	case s == http.StatusUnauthorized || s == http.StatusForbidden,
		s == http.StatusNotFound || s == http.StatusMethodNotAllowed,
		s >= 300 && s < 400:
		e.Kind = offlinepush.KindAuth // the URL or secret is wrong
	case s >= 400:
		e.Kind = offlinepush.KindPayload // 400, 413, 422 and the rest of 4xx
	default:
		e.Kind = offlinepush.KindRetry // an unexpected 1xx
	}
	return e
}

// fit marshals p within limit bytes, cutting the body and then the title
// no more than needed (JSON escaping makes the encoded length differ from
// the text's, so the cut is searched for).
func fit(p Payload, limit int) ([]byte, error) {
	fits := func() bool { return len(marshal(p)) <= limit }
	if !offlinepush.FitPreview(&p.Title, &p.Body, fits) {
		return nil, errTooLarge
	}
	return marshal(p), nil
}

// marshal encodes p; it cannot fail (strings, a string map, numbers).
func marshal(p Payload) []byte {
	b, _ := offlinepush.EncodeJSON(p)
	return b
}
