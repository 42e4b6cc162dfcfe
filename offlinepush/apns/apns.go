package apns

import (
	"bytes"
	"context"
	"crypto/tls"
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

const (
	// ProductionURL is APNs' production host.
	ProductionURL = "https://api.push.apple.com"
	// DevelopmentURL is APNs' sandbox host, for development builds.
	DevelopmentURL = "https://api.sandbox.push.apple.com"

	vendorName = "apns"
)

// Config configures a Client. KeyP8, KeyID, TeamID and Topic are required;
// every other field's zero value is its default.
type Config struct {
	// KeyP8 is the token signing key downloaded from Apple (the .p8 file's
	// PEM contents). Required.
	KeyP8 []byte
	// KeyID is the key's 10-character Key ID. Required.
	KeyID string
	// TeamID is the developer account's 10-character Team ID. Required.
	TeamID string
	// Topic is the app's bundle ID, sent as apns-topic. Required.
	Topic string
	// Development sends to DevelopmentURL instead of ProductionURL when
	// BaseURL is empty; tokens of development builds only work there.
	Development bool
	// BaseURL is APNs' base URL; default ProductionURL, or DevelopmentURL
	// when Development is set.
	BaseURL string
	// HTTPClient sends the requests; it must speak HTTP/2, which APNs
	// requires. Default: an HTTP/2-only client with a 30 s timeout that
	// pings idle connections to notice dead ones.
	HTTPClient *http.Client
	// Now is the clock for provider tokens and apns-expiration; default
	// time.Now.
	Now func() time.Time
}

// Client sends notifications through APNs. It is safe for concurrent use.
type Client struct {
	baseURL string
	topic   string
	hc      *http.Client
	now     func() time.Time
	token   *providerToken
}

var _ offlinepush.Vendor = (*Client)(nil)

// New checks cfg, fills its defaults and parses the signing key.
func New(cfg Config) (*Client, error) {
	switch {
	case len(cfg.KeyP8) == 0:
		return nil, errors.New("apns: KeyP8 is required")
	case cfg.KeyID == "":
		return nil, errors.New("apns: KeyID is required")
	case cfg.TeamID == "":
		return nil, errors.New("apns: TeamID is required")
	case cfg.Topic == "":
		return nil, errors.New("apns: Topic (the app's bundle ID) is required")
	}
	key, err := parseKey(cfg.KeyP8)
	if err != nil {
		return nil, err
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = ProductionURL
		if cfg.Development {
			cfg.BaseURL = DevelopmentURL
		}
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("apns: BaseURL %q is not an absolute URL", cfg.BaseURL)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = defaultHTTPClient()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{
		baseURL: strings.TrimSuffix(cfg.BaseURL, "/"),
		topic:   cfg.Topic,
		hc:      cfg.HTTPClient,
		now:     cfg.Now,
		token:   &providerToken{key: key, keyID: cfg.KeyID, teamID: cfg.TeamID, now: cfg.Now},
	}, nil
}

func defaultHTTPClient() *http.Client {
	t := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     10 * time.Minute,
		// APNs keeps connections open for hours; a ping finds one that a
		// middlebox dropped before a push is lost on it.
		HTTP2: &http.HTTP2Config{SendPingTimeout: time.Minute, PingTimeout: 15 * time.Second},
	}
	t.Protocols = new(http.Protocols)
	t.Protocols.SetHTTP2(true)
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// Name returns "apns".
func (c *Client) Name() string { return vendorName }

// Send posts n to APNs once. An ExpiredProviderToken answer makes it sign
// a new provider token and post again, once: that renews authentication,
// it does not retry the push.
func (c *Client) Send(ctx context.Context, n *offlinepush.Notification) error {
	if n.Token == "" {
		return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindTokenInvalid, Code: "MissingDeviceToken"}
	}
	r, err := render(n, c.now())
	if err != nil {
		return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindPayload, Code: "PayloadTooLarge", Err: err}
	}
	jwt, err := c.token.get()
	if err != nil {
		return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindAuth, Err: err}
	}
	res := c.post(ctx, n.Token, r, jwt)
	if res.reason == "ExpiredProviderToken" {
		fresh, ok, err := c.token.refresh(jwt)
		if err != nil {
			return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindAuth, Err: err}
		}
		if ok {
			res = c.post(ctx, n.Token, r, fresh)
		}
	}
	return res.err()
}

// result is APNs' answer to one request.
type result struct {
	status     int
	reason     string
	timestamp  int64 // ms since the epoch that the token was last valid (410)
	retryAfter time.Duration
	netErr     error
}

func (c *Client) post(ctx context.Context, token string, r *request, jwt string) result {
	u := c.baseURL + "/3/device/" + url.PathEscape(token)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(r.payload))
	if err != nil {
		return result{netErr: err}
	}
	h := req.Header
	h.Set("authorization", "bearer "+jwt)
	h.Set("apns-topic", c.topic)
	h.Set("apns-push-type", r.pushType)
	h.Set("apns-priority", r.priority)
	h.Set("content-type", "application/json")
	if r.expiration != "" {
		h.Set("apns-expiration", r.expiration)
	}
	if r.collapseID != "" {
		h.Set("apns-collapse-id", r.collapseID)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return result{netErr: err}
	}
	defer resp.Body.Close()
	res := result{status: resp.StatusCode}
	if resp.StatusCode == http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // empty on APNs
		return res
	}
	// A body cut short leaves the status to decide, as one that is not
	// APNs' JSON does.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Reason    string `json:"reason"`
		Timestamp int64  `json:"timestamp"`
	}
	_ = json.Unmarshal(body, &e)
	res.reason, res.timestamp = e.Reason, e.Timestamp
	res.retryAfter = offlinepush.ParseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	return res
}

// reasonKinds sorts the reasons of "Handling notification responses from
// APNs" (the JSON "reason" of a failed request) into error kinds.
var reasonKinds = map[string]offlinepush.ErrorKind{
	// The token is bad, gone, or belongs to another app or environment.
	"BadDeviceToken":         offlinepush.KindTokenInvalid,
	"DeviceTokenNotForTopic": offlinepush.KindTokenInvalid,
	"Unregistered":           offlinepush.KindTokenInvalid,
	"ExpiredToken":           offlinepush.KindTokenInvalid,
	"MissingDeviceToken":     offlinepush.KindTokenInvalid,

	// This notification is malformed or too large.
	"BadCollapseId":     offlinepush.KindPayload,
	"BadExpirationDate": offlinepush.KindPayload,
	"BadMessageId":      offlinepush.KindPayload,
	"BadPriority":       offlinepush.KindPayload,
	"DuplicateHeaders":  offlinepush.KindPayload,
	"InvalidPushType":   offlinepush.KindPayload,
	"PayloadEmpty":      offlinepush.KindPayload,
	"PayloadTooLarge":   offlinepush.KindPayload,

	// The key, team, topic or host is wrong: every push would fail.
	"BadCertificate":             offlinepush.KindAuth,
	"BadCertificateEnvironment":  offlinepush.KindAuth,
	"BadEnvironmentKeyIdInToken": offlinepush.KindAuth,
	"BadPath":                    offlinepush.KindAuth,
	"BadTopic":                   offlinepush.KindAuth,
	"ExpiredProviderToken":       offlinepush.KindAuth, // after one refresh
	"Forbidden":                  offlinepush.KindAuth,
	"InvalidProviderToken":       offlinepush.KindAuth,
	"MethodNotAllowed":           offlinepush.KindAuth,
	"MissingProviderToken":       offlinepush.KindAuth,
	"MissingTopic":               offlinepush.KindAuth,
	"TopicDisallowed":            offlinepush.KindAuth,
	"UnrelatedKeyIdInToken":      offlinepush.KindAuth,

	// Transient: back off and try again.
	"IdleTimeout":                 offlinepush.KindRetry,
	"InternalServerError":         offlinepush.KindRetry,
	"ServiceUnavailable":          offlinepush.KindRetry,
	"Shutdown":                    offlinepush.KindRetry,
	"TooManyProviderTokenUpdates": offlinepush.KindRetry,
	"TooManyRequests":             offlinepush.KindRetry,
}

// statusKind decides for a reason APNs did not send or that is not listed.
func statusKind(status int) offlinepush.ErrorKind {
	switch {
	case status == http.StatusGone:
		return offlinepush.KindTokenInvalid
	case status == http.StatusUnauthorized, status == http.StatusForbidden,
		status == http.StatusNotFound, status == http.StatusMethodNotAllowed:
		return offlinepush.KindAuth
	case status == http.StatusTooManyRequests, status >= 500:
		return offlinepush.KindRetry
	case status >= 400:
		return offlinepush.KindPayload
	}
	return offlinepush.KindRetry
}

func (r result) err() error {
	if r.netErr != nil {
		return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindRetry, Err: r.netErr}
	}
	if r.status == http.StatusOK {
		return nil
	}
	kind, ok := reasonKinds[r.reason]
	if !ok {
		kind = statusKind(r.status)
	}
	e := &offlinepush.Error{Vendor: vendorName, Kind: kind, Status: r.status, Code: r.reason, RetryAfter: r.retryAfter}
	if r.timestamp > 0 {
		e.Err = fmt.Errorf("token inactive since %s", time.UnixMilli(r.timestamp).UTC().Format(time.RFC3339))
	}
	return e
}
