package oppo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

const (
	// tokenLifetime is how long OPPO says an auth_token is valid.
	tokenLifetime = 24 * time.Hour
	// tokenMargin is how long before it expires a token is replaced, so
	// that a push never goes out with a token about to expire.
	tokenMargin = time.Hour
)

// tokenSource caches an access token and fetches a new one when it is
// missing or expired, one fetch at a time.
type tokenSource struct {
	now   func() time.Time
	fetch func(ctx context.Context) (token string, expires time.Time, err error)
	// fetching holds one element while a goroutine fetches; unlike a
	// mutex, waiting for it respects ctx.
	fetching chan struct{}

	mu      sync.Mutex
	token   string    // guarded by mu; "" when none
	expires time.Time // guarded by mu
}

func newTokenSource(now func() time.Time, fetch func(context.Context) (string, time.Time, error)) *tokenSource {
	return &tokenSource{now: now, fetch: fetch, fetching: make(chan struct{}, 1)}
}

// cached returns the cached token if it is still good.
func (s *tokenSource) cached() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Before(s.expires) {
		return s.token, true
	}
	return "", false
}

// get returns a good token, fetching one if needed.
func (s *tokenSource) get(ctx context.Context) (string, error) {
	if t, ok := s.cached(); ok {
		return t, nil
	}
	select {
	case s.fetching <- struct{}{}:
	case <-ctx.Done():
		return "", &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindRetry, Err: ctx.Err()}
	}
	defer func() { <-s.fetching }()
	if t, ok := s.cached(); ok { // another goroutine fetched it meanwhile
		return t, nil
	}
	t, expires, err := s.fetch(ctx)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.token, s.expires = t, expires
	s.mu.Unlock()
	return t, nil
}

// invalidate drops token if it is still the cached one, so that many sends
// refused with the same token cause one fetch, not one each.
func (s *tokenSource) invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == token {
		s.token = ""
	}
}

// fetchToken asks OPPO for an auth_token.
func (c *Client) fetchToken(ctx context.Context) (string, time.Time, error) {
	now := c.cfg.Now()
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	sum := sha256.Sum256([]byte(c.cfg.AppKey + ts + c.cfg.MasterSecret))
	form := url.Values{"app_key": {c.cfg.AppKey}, "timestamp": {ts}, "sign": {hex.EncodeToString(sum[:])}}
	body, err := c.post(ctx, c.authURL, form, "")
	if err != nil {
		return "", time.Time{}, err
	}
	var resp apiResponse
	if err := json.Unmarshal(body, &resp); err != nil || !resp.hasCode() {
		return "", time.Time{}, malformed(body, err)
	}
	if resp.code() != 0 {
		e := codeError(resp.code(), resp.Message)
		if e.Kind == offlinepush.KindPayload || e.Kind == offlinepush.KindTokenInvalid {
			e.Kind = offlinepush.KindAuth // a refused auth request is a configuration problem
		}
		return "", time.Time{}, e
	}
	var data struct {
		AuthToken  string `json:"auth_token"`
		CreateTime int64  `json:"create_time"` // Unix milliseconds
	}
	if err := json.Unmarshal(resp.data(), &data); err != nil || data.AuthToken == "" {
		return "", time.Time{}, malformed(body, err)
	}
	// OPPO may hand back a token it issued earlier: it expires a day
	// after its create_time, not a day after now.
	issued := now
	if data.CreateTime > 0 {
		if t := time.UnixMilli(data.CreateTime); t.Before(now) {
			issued = t
		}
	}
	return data.AuthToken, issued.Add(tokenLifetime - tokenMargin), nil
}
