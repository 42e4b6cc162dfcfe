package fcm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/errorutils"
	"firebase.google.com/go/v4/messaging"
	"google.golang.org/api/option"

	"github.com/loftchat/loft/offlinepush"
)

const (
	// DefaultBaseURL is FCM's production host.
	DefaultBaseURL = "https://fcm.googleapis.com"
	// DefaultAuthURL is Google's OAuth 2.0 token endpoint, used when the
	// service account key names none.
	DefaultAuthURL = "https://oauth2.googleapis.com/token"

	vendorName = "fcm"
)

// Config configures a Client. CredentialsJSON is required; every other
// field's zero value is its default.
type Config struct {
	// CredentialsJSON is a service account key file of the Firebase project
	// (the JSON from "Generate new private key"). Required.
	CredentialsJSON []byte
	// ProjectID is the Firebase project ID; default the key's project_id.
	ProjectID string
	// BaseURL is FCM's base URL; messages go to
	// BaseURL/v1/projects/{ProjectID}/messages:send. Default DefaultBaseURL.
	BaseURL string
	// AuthURL is the OAuth 2.0 token endpoint; default the key's token_uri,
	// else DefaultAuthURL.
	AuthURL string
	// HTTPClient sends the messages and the token requests; default one
	// with a 30 s timeout.
	HTTPClient *http.Client
	// Now is the clock for access tokens and apns-expiration; default
	// time.Now.
	Now func() time.Time
}

// Client sends notifications through FCM with the Firebase Admin SDK's
// messaging client. It is safe for concurrent use.
type Client struct {
	msg    *messaging.Client
	tokens *tokenSource
	now    func() time.Time
}

var _ offlinepush.Vendor = (*Client)(nil)

// New checks cfg, fills its defaults, and builds the SDK's messaging client
// on Config.HTTPClient.
func New(cfg Config) (*Client, error) {
	if len(cfg.CredentialsJSON) == 0 {
		return nil, errors.New("fcm: CredentialsJSON (a service account key) is required")
	}
	sa, key, err := parseServiceAccount(cfg.CredentialsJSON)
	if err != nil {
		return nil, err
	}
	if cfg.ProjectID == "" {
		cfg.ProjectID = sa.ProjectID
	}
	if cfg.ProjectID == "" {
		return nil, errors.New("fcm: ProjectID is required: CredentialsJSON has no project_id")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.AuthURL == "" {
		cfg.AuthURL = sa.TokenURI
	}
	if cfg.AuthURL == "" {
		cfg.AuthURL = DefaultAuthURL
	}
	for name, v := range map[string]string{"BaseURL": cfg.BaseURL, "AuthURL": cfg.AuthURL} {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("fcm: %s %q is not an absolute URL", name, v)
		}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}

	// With its own HTTP client the SDK adds no credentials: oneShot adds
	// the token (and stops the SDK's retries).
	ctx := context.Background()
	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: cfg.ProjectID},
		option.WithHTTPClient(&http.Client{Transport: oneShot{hc: cfg.HTTPClient}}),
		option.WithEndpoint(strings.TrimSuffix(cfg.BaseURL, "/")+"/v1"))
	if err != nil {
		return nil, fmt.Errorf("fcm: %w", err)
	}
	msg, err := app.Messaging(ctx)
	if err != nil {
		return nil, fmt.Errorf("fcm: %w", err)
	}
	return &Client{
		msg:    msg,
		now:    cfg.Now,
		tokens: newTokenSource(cfg.HTTPClient, cfg.AuthURL, sa, key, cfg.Now),
	}, nil
}

// Name returns "fcm".
func (c *Client) Name() string { return vendorName }

// Send sends n to FCM in one request. A 401 UNAUTHENTICATED answer (the
// access token was revoked or expired early) makes it get a new access
// token and send once more: that renews authentication, it does not retry
// the push.
func (c *Client) Send(ctx context.Context, n *offlinepush.Notification) error {
	if n.Token == "" {
		return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindTokenInvalid, Err: errors.New("no device token")}
	}
	m, err := message(n, c.now())
	if err != nil {
		return &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindPayload, Err: err}
	}
	return c.tokens.Use(ctx, func(tok string) (bool, error) {
		a, err := c.send(ctx, m, tok)
		return expiredToken(a, err), c.sendError(ctx, a, err)
	})
}

func (c *Client) send(ctx context.Context, m *messaging.Message, tok string) (*attempt, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := &attempt{token: tok, cancel: cancel}
	_, err := c.msg.Send(context.WithValue(ctx, attemptKey{}, a), m)
	return a, err
}

// expiredToken reports whether FCM refused the access token itself, not
// the APNs or web push credentials behind the project (which is also a
// 401, THIRD_PARTY_AUTH_ERROR).
func expiredToken(a *attempt, err error) bool {
	_, status, _, _, _ := a.result()
	return status == http.StatusUnauthorized && err != nil && !messaging.IsThirdPartyAuthError(err)
}

// sendError maps the SDK's error and the answer oneShot kept to an
// *offlinepush.Error, following "FCM error codes" (ErrorCode in the FCM
// HTTP v1 reference).
func (c *Client) sendError(ctx context.Context, a *attempt, err error) error {
	if err == nil {
		return nil
	}
	sent, status, header, body, netErr := a.result()
	e := &offlinepush.Error{Vendor: vendorName, Err: err}
	switch {
	case !sent && ctx.Err() != nil:
		e.Kind = offlinepush.KindRetry
		return e
	case !sent:
		// The SDK refused the message before sending it.
		e.Kind = offlinepush.KindPayload
		return e
	case netErr != nil:
		e.Kind, e.Err = offlinepush.KindRetry, netErr
		return e
	}
	api := parseAPIError(body)
	e.Status, e.Code = status, api.code()
	e.RetryAfter = offlinepush.ParseRetryAfter(header.Get("Retry-After"), c.now())
	if errors.Is(err, context.Canceled) && ctx.Err() == nil {
		// oneShot stopped the SDK's retry of this answer; say what it was.
		e.Err = errors.New(api.Error.Message)
		if api.Error.Message == "" {
			e.Err = errors.New(http.StatusText(status))
		}
	}
	e.Kind = sendKind(err, status, api)
	return e
}

func sendKind(err error, status int, api apiError) offlinepush.ErrorKind {
	switch {
	case messaging.IsUnregistered(err), messaging.IsSenderIDMismatch(err):
		return offlinepush.KindTokenInvalid
	case messaging.IsQuotaExceeded(err):
		return offlinepush.KindQuota
	case messaging.IsThirdPartyAuthError(err):
		return offlinepush.KindAuth
	case messaging.IsUnavailable(err), messaging.IsInternal(err):
		return offlinepush.KindRetry
	case messaging.IsInvalidArgument(err), errorutils.IsInvalidArgument(err):
		if api.badToken() {
			return offlinepush.KindTokenInvalid
		}
		return offlinepush.KindPayload
	case errorutils.IsUnauthenticated(err), errorutils.IsPermissionDenied(err):
		return offlinepush.KindAuth
	}
	// No FCM error code the SDK knows: the answers whose retry oneShot
	// stopped (503), or a status alone. NOT_FOUND without UNREGISTERED is a
	// wrong project or base URL; a status that is not an error, FCM's
	// trouble.
	if status < 400 {
		return offlinepush.KindRetry
	}
	return offlinepush.StatusKind(status)
}
