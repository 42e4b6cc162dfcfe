package honor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

// tokenMargin is how long before Honor's expiry a token is replaced, so
// that a token never expires between the check and the push.
const tokenMargin = 5 * time.Minute

// defaultTokenLifetime is used when the token endpoint leaves out
// expires_in: one hour, like Huawei's, which Honor's service mirrors.
const defaultTokenLifetime = time.Hour

// tokenSource fetches the app's access token with the OAuth 2.0
// client-credentials grant and caches it until shortly before it expires.
// It is safe for concurrent use: callers that find no valid token wait for
// the one fetch in flight instead of each asking Honor for a token.
type tokenSource struct {
	authURL  string
	clientID string
	secret   string
	hc       *http.Client
	now      func() time.Time

	sem    chan struct{} // a one-slot lock that waiters can give up on with ctx
	token  string        // guarded by sem
	expiry time.Time     // guarded by sem
}

func newTokenSource(cfg *Config) *tokenSource {
	return &tokenSource{
		authURL:  cfg.AuthURL,
		clientID: cfg.ClientID,
		secret:   cfg.ClientSecret,
		hc:       cfg.HTTPClient,
		now:      cfg.Now,
		sem:      make(chan struct{}, 1),
	}
}

// get returns a valid access token. A non-empty stale is a token Honor just
// refused: if it is still the cached one, get fetches a new one; if another
// caller already replaced it, get returns the replacement.
func (ts *tokenSource) get(ctx context.Context, stale string) (string, error) {
	select {
	case ts.sem <- struct{}{}:
	case <-ctx.Done():
		return "", &offlinepush.Error{Vendor: name, Kind: offlinepush.KindRetry, Err: ctx.Err()}
	}
	defer func() { <-ts.sem }()

	if ts.token != "" && ts.token != stale && ts.now().Before(ts.expiry) {
		return ts.token, nil
	}
	tok, lifetime, err := ts.fetch(ctx)
	if err != nil {
		return "", err
	}
	margin := min(tokenMargin, lifetime/2)
	ts.token, ts.expiry = tok, ts.now().Add(lifetime-margin)
	return tok, nil
}

// tokenReply is the token endpoint's answer: the token, or an OAuth 2.0
// error ("invalid_client", "unauthorized_client", ...) and its description.
type tokenReply struct {
	AccessToken      string          `json:"access_token"`
	ExpiresIn        int64           `json:"expires_in"`
	Error            json.RawMessage `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

func (ts *tokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {ts.clientID},
		"client_secret": {ts.secret},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.authURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, &offlinepush.Error{Vendor: name, Kind: offlinepush.KindAuth, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := ts.hc.Do(req)
	if err != nil {
		return "", 0, &offlinepush.Error{Vendor: name, Kind: offlinepush.KindRetry, Err: fmt.Errorf("honor: token: %w", err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return "", 0, &offlinepush.Error{Vendor: name, Kind: offlinepush.KindRetry, Status: resp.StatusCode, Err: fmt.Errorf("honor: token: %w", err)}
	}
	var r tokenReply
	jsonErr := json.Unmarshal(raw, &r)
	code := rawCode(r.Error)

	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return "", 0, &offlinepush.Error{
			Vendor: name, Kind: offlinepush.KindRetry, Status: resp.StatusCode, Code: code,
			RetryAfter: offlinepush.ParseRetryAfter(resp.Header.Get("Retry-After"), ts.now()),
			Err:        fmt.Errorf("honor: token endpoint answered %s", resp.Status),
		}
	case resp.StatusCode != http.StatusOK || code != "":
		// A refused client ID or secret: only reconfiguration helps.
		return "", 0, &offlinepush.Error{
			Vendor: name, Kind: offlinepush.KindAuth, Status: resp.StatusCode, Code: code,
			Err: fmt.Errorf("honor: token refused: %s", r.ErrorDescription),
		}
	case jsonErr != nil || r.AccessToken == "":
		return "", 0, &offlinepush.Error{
			Vendor: name, Kind: offlinepush.KindRetry, Status: resp.StatusCode,
			Err: fmt.Errorf("honor: token endpoint answered no access_token (%v)", jsonErr),
		}
	}
	lifetime := time.Duration(r.ExpiresIn) * time.Second
	if lifetime <= 0 {
		lifetime = defaultTokenLifetime
	}
	return r.AccessToken, lifetime, nil
}

// rawCode renders a JSON code sent as a number or a string the way it was
// sent, without quotes; "" for none.
func rawCode(m json.RawMessage) string {
	s := strings.TrimSpace(string(m))
	if s == "" || s == "null" {
		return ""
	}
	var str string
	if json.Unmarshal(m, &str) == nil {
		return str
	}
	return s
}
