package vivo

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

// tokenRefresh is how long an authToken is used: vivo's tokens last a day
// but vivo asks senders to renew them every one to two hours.
const tokenRefresh = time.Hour

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

// authRequest is the JSON body of /message/auth.
type authRequest struct {
	AppID     string `json:"appId"`
	AppKey    string `json:"appKey"`
	Timestamp int64  `json:"timestamp"` // Unix milliseconds
	Sign      string `json:"sign"`
}

// fetchToken asks vivo for an authToken.
func (c *Client) fetchToken(ctx context.Context) (string, time.Time, error) {
	now := c.cfg.Now()
	ts := now.UnixMilli()
	sum := md5.Sum([]byte(c.cfg.AppID + c.cfg.AppKey + strconv.FormatInt(ts, 10) + c.cfg.AppSecret))
	req := authRequest{AppID: c.cfg.AppID, AppKey: c.cfg.AppKey, Timestamp: ts, Sign: hex.EncodeToString(sum[:])}
	body, err := c.post(ctx, c.authURL, req, "")
	if err != nil {
		return "", time.Time{}, err
	}
	var a struct {
		apiAnswer
		AuthToken string `json:"authToken"`
	}
	if err := json.Unmarshal(body, &a); err != nil || !a.hasResult() {
		return "", time.Time{}, malformed(body, err)
	}
	if a.result() != 0 {
		e := resultError(a.result(), a.Desc)
		if e.Kind == offlinepush.KindPayload || e.Kind == offlinepush.KindTokenInvalid {
			e.Kind = offlinepush.KindAuth // a refused auth request is a configuration problem
		}
		return "", time.Time{}, e
	}
	if a.AuthToken == "" {
		return "", time.Time{}, malformed(body, nil)
	}
	return a.AuthToken, now.Add(tokenRefresh), nil
}
