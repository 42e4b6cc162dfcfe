package webpush

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

// Name is the vendor name Client reports and puts in its errors.
const Name = "webpush"

const (
	// MaxBody is the largest encrypted body RFC 8030 section 7.2 says
	// every push service must accept.
	MaxBody = 4096
	// minBody leaves room for the encryption overhead and a useful JSON.
	minBody = 512
	// DefaultTTL is used when a Notification has none: Web Push has no
	// default (the TTL header is required), and 4 weeks is the longest
	// the big push services keep a message and the usual library default.
	DefaultTTL = 28 * 24 * time.Hour
	// maxTopic is RFC 8030 section 5.4's limit on the Topic header.
	maxTopic = 32
)

// Config configures a Client. Web Push has no fixed endpoint: each
// subscription names its push service's URL, so there is no BaseURL.
type Config struct {
	// VAPIDPublicKey is the application server's P-256 public key,
	// base64url (the uncompressed point, as GenerateVAPIDKeys returns it
	// and as the page passes it to pushManager.subscribe). Required.
	VAPIDPublicKey string
	// VAPIDPrivateKey is the matching 32-byte private key, base64url.
	// Required.
	VAPIDPrivateKey string
	// Subscriber is the contact the push services see in the VAPID sub
	// claim: "mailto:ops@example.com" or an https URL; a bare e-mail
	// address gets "mailto:". Required: Mozilla and Apple refuse a JWT
	// without one (and Apple one whose domain is not real, like
	// @localhost).
	Subscriber string
	// HTTPClient sends the pushes. Default: a client with a 10 s timeout.
	// Redirects are never followed (a copy of the client is used).
	HTTPClient *http.Client
	// Now is the clock for VAPID expiry and Retry-After dates. Default
	// time.Now.
	Now func() time.Time
	// DefaultTTL is the TTL of a Notification without one. Default
	// DefaultTTL (4 weeks).
	DefaultTTL time.Duration
	// MaxBody caps the encrypted request body, between 512 and MaxBody
	// bytes. Default MaxBody (4096). Lower it for push services that
	// refuse less than the RFC allows.
	MaxBody int
}

// Client sends Web Push messages. It is safe for concurrent use.
type Client struct {
	http       *http.Client
	now        func() time.Time
	vapid      *vapid
	defaultTTL time.Duration
	maxPlain   int // the largest plaintext that encrypts within MaxBody
}

var _ offlinepush.Vendor = (*Client)(nil)

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	key, pub, err := parseVAPIDKeys(cfg.VAPIDPublicKey, cfg.VAPIDPrivateKey)
	if err != nil {
		return nil, err
	}
	sub, err := parseSubscriber(cfg.Subscriber)
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DefaultTTL == 0 {
		cfg.DefaultTTL = DefaultTTL
	}
	if cfg.DefaultTTL < 0 {
		return nil, errors.New("webpush: Config.DefaultTTL is negative")
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = MaxBody
	}
	if cfg.MaxBody < minBody || cfg.MaxBody > MaxBody {
		return nil, fmt.Errorf("webpush: Config.MaxBody %d is not between %d and %d", cfg.MaxBody, minBody, MaxBody)
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc.Timeout = 10 * time.Second
	}
	// A redirected POST becomes a GET without the message; Mozilla's
	// push service answers 301 for a subscription that has moved, which
	// Send reports as a gone token instead.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{
		http:       &hc,
		now:        cfg.Now,
		vapid:      newVAPID(key, pub, sub, cfg.Now),
		defaultTTL: cfg.DefaultTTL,
		maxPlain:   cfg.MaxBody - overhead,
	}, nil
}

// Name returns "webpush".
func (c *Client) Name() string { return Name }

// subscription is the browser's PushSubscription.toJSON(), which is what
// the client registers as its token.
type subscription struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// target is a parsed, checked subscription.
type target struct {
	endpoint string
	origin   string // the VAPID aud: scheme://host[:port]
	uaPublic *ecdh.PublicKey
	auth     []byte
}

// parseToken reads a PushSubscription JSON. The token comes from a client,
// so everything is checked before it is used; only https endpoints are
// accepted (every browser's push service is https, and it keeps a client
// from pointing Loft at a plain-HTTP internal address).
func parseToken(token string) (*target, error) {
	var s subscription
	if err := json.Unmarshal([]byte(token), &s); err != nil {
		return nil, fmt.Errorf("token is not a PushSubscription JSON: %w", err)
	}
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" || u.User != nil {
		return nil, errors.New("endpoint is not an https URL")
	}
	p, err := decodeKey(s.Keys.P256dh)
	if err != nil {
		return nil, fmt.Errorf("keys.p256dh: %w", err)
	}
	uaPublic, err := ecdh.P256().NewPublicKey(p)
	if err != nil {
		return nil, fmt.Errorf("keys.p256dh: %w", err)
	}
	auth, err := decodeKey(s.Keys.Auth)
	if err != nil {
		return nil, fmt.Errorf("keys.auth: %w", err)
	}
	if len(auth) != 16 { // RFC 8291 section 3.2
		return nil, fmt.Errorf("keys.auth is %d bytes, not 16", len(auth))
	}
	return &target{
		endpoint: s.Endpoint,
		origin:   u.Scheme + "://" + u.Host,
		uaPublic: uaPublic,
		auth:     auth,
	}, nil
}

// message is the JSON the service worker receives in its push event and
// renders. Badge is the unread count (for navigator.setAppBadge), not the
// Notification API's badge image.
type message struct {
	Title  string            `json:"title,omitempty"`
	Body   string            `json:"body,omitempty"`
	Data   map[string]string `json:"data"`
	Badge  *int              `json:"badge,omitempty"`
	Tag    string            `json:"tag,omitempty"`
	Silent bool              `json:"silent,omitempty"`
}

// errTooLarge is a Notification whose data alone does not fit.
var errTooLarge = errors.New("webpush: data does not fit the push size limit")

// fit marshals m within limit bytes, cutting the body and then the title
// no more than needed (JSON escaping makes the encoded length differ from
// the text's, so the cut is searched for).
func fit(m message, limit int) ([]byte, error) {
	fits := func() bool { return len(marshal(m)) <= limit }
	if !offlinepush.FitPreview(&m.Title, &m.Body, fits) {
		return nil, errTooLarge
	}
	return marshal(m), nil
}

// marshal encodes the message; it cannot fail (strings, a string map, an
// int).
func marshal(m message) []byte {
	b, _ := offlinepush.EncodeJSON(m)
	return b
}

// topic derives RFC 8030's Topic from a collapse key of any length: at
// most 32 characters of the base64url alphabet, so it is hashed.
func topic(collapseKey string) string {
	sum := sha256.Sum256([]byte(collapseKey))
	return base64.RawURLEncoding.EncodeToString(sum[:maxTopic*6/8])
}

// Send encrypts n for the subscription in n.Token and posts it to the
// subscription's push service.
func (c *Client) Send(ctx context.Context, n *offlinepush.Notification) error {
	t, err := parseToken(n.Token)
	if err != nil {
		return &offlinepush.Error{Vendor: Name, Kind: offlinepush.KindTokenInvalid, Err: err}
	}
	m := message{Data: n.Data, Badge: n.Badge, Tag: n.CollapseKey}
	if m.Data == nil {
		m.Data = map[string]string{}
	}
	if n.Silent || (n.Title == "" && n.Body == "") {
		m.Silent = true
	} else {
		m.Title, m.Body = n.Title, n.Body
	}
	plain, err := fit(m, c.maxPlain)
	if err != nil {
		return &offlinepush.Error{Vendor: Name, Kind: offlinepush.KindPayload, Err: err}
	}
	body, err := encrypt(plain, t.uaPublic, t.auth)
	if err != nil {
		return &offlinepush.Error{Vendor: Name, Kind: offlinepush.KindTokenInvalid, Err: err}
	}
	auth, err := c.vapid.authorization(t.origin)
	if err != nil {
		return &offlinepush.Error{Vendor: Name, Kind: offlinepush.KindAuth, Err: err}
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.endpoint, bytes.NewReader(body))
	if err != nil {
		return &offlinepush.Error{Vendor: Name, Kind: offlinepush.KindTokenInvalid, Err: err}
	}
	ttl := n.TTL
	if ttl <= 0 {
		ttl = c.defaultTTL
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Encoding", "aes128gcm")
	req.Header.Set("TTL", strconv.FormatInt(int64(ttl/time.Second), 10))
	// Silent pushes stay normal: "low" would hold a sync wake-up until the
	// device is charging on Wi-Fi.
	urgency := "normal"
	if n.High && !m.Silent {
		urgency = "high"
	}
	req.Header.Set("Urgency", urgency)
	if n.CollapseKey != "" {
		req.Header.Set("Topic", topic(n.CollapseKey))
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return &offlinepush.Error{Vendor: Name, Kind: offlinepush.KindRetry, Err: err}
	}
	defer resp.Body.Close()
	// Read a little of the answer for the error code, then drain so the
	// connection is reused.
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return c.classify(resp, answer)
}

// pushError is the JSON error body of Mozilla's push service (code, errno,
// error, message) and Apple's (reason); Google's is plain text.
type pushError struct {
	Errno   int    `json:"errno"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// classify maps a push service's refusal to an error kind (doc.go lists
// them).
func (c *Client) classify(resp *http.Response, body []byte) error {
	e := &offlinepush.Error{Vendor: Name, Status: resp.StatusCode}
	text := strings.TrimSpace(string(body))
	var pe pushError
	if json.Unmarshal(body, &pe) == nil && (pe.Errno != 0 || pe.Reason != "") {
		if pe.Reason != "" {
			e.Code = pe.Reason
		} else {
			e.Code = strconv.Itoa(pe.Errno)
		}
		if pe.Message != "" {
			text = pe.Message
		}
	}
	if text != "" {
		e.Err = errors.New(offlinepush.Truncate(text, 200))
	}
	switch s := resp.StatusCode; {
	case s == http.StatusMovedPermanently || s == http.StatusPermanentRedirect:
		e.Kind = offlinepush.KindTokenInvalid // Mozilla: the subscription moved
	case s == http.StatusNotFound || s == http.StatusGone:
		e.Kind = offlinepush.KindTokenInvalid
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		e.Kind = offlinepush.KindAuth
	case s == http.StatusBadRequest && strings.Contains(text, "UnauthorizedRegistration"):
		// Google's push service says a bad VAPID header this way.
		e.Kind = offlinepush.KindAuth
		if e.Code == "" {
			e.Code = "UnauthorizedRegistration"
		}
	case s == http.StatusTooManyRequests || s == http.StatusRequestTimeout || s >= 500:
		e.Kind = offlinepush.KindRetry
		e.RetryAfter = offlinepush.ParseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	case s >= 400:
		e.Kind = offlinepush.KindPayload // 400, 413 and the rest of 4xx
	default:
		e.Kind = offlinepush.KindRetry // an unexpected 1xx or 3xx
	}
	return e
}
