package offlinepush

import (
	"context"
	"sync"
	"time"
)

// AccessToken is the access token that all of a vendor's Sends share (FCM,
// Huawei, Honor, OPPO and vivo authenticate pushes with one): it is
// fetched when first needed, by one goroutine at a time while the others
// wait for its result, used until the time the fetch said, and fetched
// again once when the vendor refuses it however many Sends saw the
// refusal. It is safe for concurrent use.
type AccessToken struct {
	vendor string
	now    func() time.Time
	fetch  func(ctx context.Context) (token string, expiry time.Time, err error)

	// fetching holds one element while a goroutine fetches; unlike a
	// mutex, waiting for it respects ctx.
	fetching chan struct{}

	mu     sync.Mutex
	token  string    // guarded by mu; "" when none
	expiry time.Time // guarded by mu: when to stop using token
}

// NewAccessToken returns an AccessToken of vendor (the name in its
// errors) that has no token yet. fetch gets a new token and the time to
// stop using it: the vendor's expiry less a margin, so that a token never
// expires on its way to the vendor. fetch must return a token or an error;
// Get returns its errors as they are, so they should be *Error. now is the
// clock that expiry is compared with; nil means time.Now.
func NewAccessToken(vendor string, now func() time.Time, fetch func(ctx context.Context) (token string, expiry time.Time, err error)) *AccessToken {
	if now == nil {
		now = time.Now
	}
	return &AccessToken{vendor: vendor, now: now, fetch: fetch, fetching: make(chan struct{}, 1)}
}

// Get returns the cached token while it is good, else fetches one. If ctx
// ends while Get waits for another goroutine's fetch, it returns a
// KindRetry *Error.
func (a *AccessToken) Get(ctx context.Context) (string, error) {
	if t, ok := a.cached(); ok {
		return t, nil
	}
	select {
	case a.fetching <- struct{}{}:
	case <-ctx.Done():
		return "", &Error{Vendor: a.vendor, Kind: KindRetry, Err: ctx.Err()}
	}
	defer func() { <-a.fetching }()
	if t, ok := a.cached(); ok { // another goroutine fetched it meanwhile
		return t, nil
	}
	t, expiry, err := a.fetch(ctx)
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	a.token, a.expiry = t, expiry
	a.mu.Unlock()
	return t, nil
}

// Invalidate drops token, which the vendor refused (revoked, or expired
// early), if it is still the cached one, so that the next Get fetches a
// new one. Many Sends refused with the same token so cause one fetch, not
// one each: a token that another Send already replaced stays.
func (a *AccessToken) Invalidate(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == token {
		a.token = ""
	}
}

// Use calls send with a good token and, if send reports that the vendor
// refused the token (revoked, or expired early), invalidates it and calls
// send once more with a new one: that renews authentication, it does not
// retry the push. It returns the last error of send, or of Get: a vendor
// that refuses a new token too should have said so with a KindAuth error.
func (a *AccessToken) Use(ctx context.Context, send func(token string) (refused bool, err error)) error {
	token, err := a.Get(ctx)
	if err != nil {
		return err
	}
	refused, err := send(token)
	if !refused {
		return err
	}
	a.Invalidate(token)
	if token, err = a.Get(ctx); err != nil {
		return err
	}
	_, err = send(token)
	return err
}

// cached returns the cached token if it is still good.
func (a *AccessToken) cached() (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && a.now().Before(a.expiry) {
		return a.token, true
	}
	return "", false
}
