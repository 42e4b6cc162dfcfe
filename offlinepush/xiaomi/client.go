package xiaomi

import (
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

const name = "xiaomi"

const (
	// DefaultBaseURL is MiPush's production server for mainland China.
	// Devices elsewhere are served by regional servers (Singapore, Europe,
	// Russia, India), chosen with Config.BaseURL.
	DefaultBaseURL = "https://api.xmpush.xiaomi.com"
	// regidPath sends one message to a list of registration IDs.
	regidPath = "/v3/message/regid"
	// defaultTimeout bounds one request when Config.HTTPClient is nil.
	defaultTimeout = 15 * time.Second
	// maxReply is how much of an answer is read: MiPush's are small JSON.
	maxReply = 64 << 10
)

// Config configures a Client. Its zero value is not usable: AppSecret and
// PackageName are required; every other field has a default.
type Config struct {
	// AppSecret is the app's AppSecret from Xiaomi's developer site, sent as
	// "Authorization: key=<AppSecret>". Required.
	AppSecret string
	// PackageName is the Android package the pushes are for
	// (restricted_package_name). Required.
	PackageName string
	// ChannelID is the notification channel the pushes are shown in
	// (extra.channel_id), as registered with Xiaomi for the app's message
	// class. Default "": not sent, MiPush's default channel.
	ChannelID string
	// BaseURL is MiPush's server. Default DefaultBaseURL.
	BaseURL string
	// HTTPClient sends every request. Default: a client with a 15 s timeout.
	HTTPClient *http.Client
	// Now reads the clock for HTTP-date Retry-After headers. Default
	// time.Now.
	Now func() time.Time
}

// Client sends notifications through Xiaomi MiPush. It holds no mutable
// state and is safe for concurrent use.
type Client struct {
	cfg     Config
	sendURL string
}

var _ offlinepush.Vendor = (*Client)(nil)

// New checks cfg, fills its defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	switch {
	case cfg.AppSecret == "":
		return nil, errors.New("xiaomi: Config.AppSecret is required")
	case cfg.PackageName == "":
		return nil, errors.New("xiaomi: Config.PackageName is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if p, err := url.Parse(cfg.BaseURL); err != nil || p.Scheme == "" || p.Host == "" {
		return nil, fmt.Errorf("xiaomi: %q is not an absolute URL", cfg.BaseURL)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: defaultTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{cfg: cfg, sendURL: strings.TrimSuffix(cfg.BaseURL, "/") + regidPath}, nil
}

// Name returns "xiaomi".
func (c *Client) Name() string { return name }

// Send pushes n to one device. It never retries: every failure is returned
// as an *offlinepush.Error.
func (c *Client) Send(ctx context.Context, n *offlinepush.Notification) error {
	form, err := c.buildForm(n)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.sendURL, strings.NewReader(form.Encode()))
	if err != nil {
		return &offlinepush.Error{Vendor: name, Kind: offlinepush.KindAuth, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8")
	req.Header.Set("Authorization", "key="+c.cfg.AppSecret)
	resp, raw, err := offlinepush.Do(c.cfg.HTTPClient, req, name, maxReply)
	if err != nil {
		return err
	}
	var r reply
	jsonErr := json.Unmarshal(raw, &r)
	return c.classify(resp, &r, jsonErr, n.Token)
}

// reply is MiPush's answer: {"result":"ok","code":0,"data":{"id":..}} or
// {"result":"error","code":N,"reason":..,"description":..}. On success
// data.bad_regids lists, comma-separated, the registration IDs it refused.
type reply struct {
	Result      string `json:"result"`
	Code        *int64 `json:"code"`
	Reason      string `json:"reason"`
	Description string `json:"description"`
	TraceID     string `json:"trace_id"`
	Data        struct {
		ID        string          `json:"id"`
		BadRegIDs json.RawMessage `json:"bad_regids"`
	} `json:"data"`
}

// Kinds of MiPush's error codes, from Xiaomi's "server error code
// reference"; see doc.go. Codes not listed are KindPayload.
var codeKinds = map[int64]offlinepush.ErrorKind{
	-1: offlinepush.KindRetry, // unknown error
	1:  offlinepush.KindRetry, // internal error
	// system error, system busy, remote service error, API called too
	// often, request expired, internal push call failed, remote service
	// failure
	10001: offlinepush.KindRetry, 10002: offlinepush.KindRetry, 10003: offlinepush.KindRetry,
	10027: offlinepush.KindRetry, 10037: offlinepush.KindRetry, 26003: offlinepush.KindRetry,
	65029: offlinepush.KindRetry,

	// too many messages today; the daily per-app send limit
	10034: offlinepush.KindQuota, 200001: offlinepush.KindQuota,

	// no valid target (the registration ID is unknown, expired or not of
	// this app), unknown device
	20301: offlinepush.KindTokenInvalid, 10029: offlinepush.KindTokenInvalid,

	// bad parameter, illegal request, missing parameter, bad value,
	// missing required parameter, content too long, no parameter, too many
	// or too long extras
	10008: offlinepush.KindPayload, 10012: offlinepush.KindPayload, 10016: offlinepush.KindPayload,
	10017: offlinepush.KindPayload, 21305: offlinepush.KindPayload, 65009: offlinepush.KindPayload,
	65011: offlinepush.KindPayload, 65014: offlinepush.KindPayload, 65015: offlinepush.KindPayload,

	// app blacklisted or forbidden, authentication failed, token
	// authentication failed, restricted request, illegal app, bad app ID,
	// bad app key, bad package name, channel mismatch
	10031: offlinepush.KindAuth, 10036: offlinepush.KindAuth, 21301: offlinepush.KindAuth,
	21302: offlinepush.KindAuth, 21303: offlinepush.KindAuth, 22000: offlinepush.KindAuth,
	22006: offlinepush.KindAuth, 22007: offlinepush.KindAuth, 22022: offlinepush.KindAuth,
	27001: offlinepush.KindAuth,
}

func (c *Client) classify(resp *http.Response, r *reply, jsonErr error, token string) error {
	status := resp.StatusCode
	e := &offlinepush.Error{Vendor: name, Status: status}
	if r.Code != nil {
		e.Code = strconv.FormatInt(*r.Code, 10)
	}
	if r.Reason != "" || r.Description != "" {
		e.Err = fmt.Errorf("xiaomi: %s: %s (trace_id %s)", r.Reason, r.Description, r.TraceID)
	}
	switch {
	case status == http.StatusOK && jsonErr == nil && r.Result == "ok" && (r.Code == nil || *r.Code == 0):
		if slices.Contains(badRegIDs(r.Data.BadRegIDs), token) {
			e.Kind = offlinepush.KindTokenInvalid
			return e
		}
		return nil
	case status == http.StatusOK && jsonErr == nil && r.Code != nil:
		kind, ok := codeKinds[*r.Code]
		if !ok {
			kind = offlinepush.KindPayload // refused for a reason we don't know
		}
		e.Kind = kind
		return e
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Kind = offlinepush.KindAuth
	case status == http.StatusTooManyRequests || status >= 500:
		e.Kind = offlinepush.KindRetry
		e.RetryAfter = offlinepush.ParseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())
	case status == http.StatusOK:
		// An answer we cannot read (a proxy's page, a cut-off body).
		e.Kind = offlinepush.KindRetry
	default:
		e.Kind = offlinepush.KindPayload
	}
	if e.Err == nil {
		e.Err = fmt.Errorf("xiaomi: send answered %s", resp.Status)
	}
	return e
}

// badRegIDs reads data.bad_regids, a comma-separated string (or, to be
// lenient, a JSON array).
func badRegIDs(raw json.RawMessage) []string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		var ids []string
		for id := range strings.SplitSeq(s, ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
		return ids
	}
	var ids []string
	_ = json.Unmarshal(raw, &ids)
	return ids
}
