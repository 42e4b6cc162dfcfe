package offlinepush

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// tokenServer is a hand-written vendor token endpoint: each fetch hands out
// "tok-N", valid for life on clock.
type tokenServer struct {
	mu      sync.Mutex
	clock   time.Time // guarded by mu
	life    time.Duration
	fetches atomic.Int32
	err     error         // returned instead of a token when set; guarded by mu
	gate    chan struct{} // if set, a fetch waits for it
}

func (s *tokenServer) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clock
}

func (s *tokenServer) advance(d time.Duration) {
	s.mu.Lock()
	s.clock = s.clock.Add(d)
	s.mu.Unlock()
}

func (s *tokenServer) fetch(ctx context.Context) (string, time.Time, error) {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return "", time.Time{}, ctx.Err()
		}
	}
	n := s.fetches.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return "", time.Time{}, s.err
	}
	return "tok-" + strconv.Itoa(int(n)), s.clock.Add(s.life), nil
}

func newTokenServer() *tokenServer {
	return &tokenServer{clock: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), life: time.Hour}
}

func mustGet(tb testing.TB, a *AccessToken, want string) {
	tb.Helper()
	got, err := a.Get(context.Background())
	if err != nil || got != want {
		tb.Fatalf("Get = %q, %v; want %q", got, err, want)
	}
}

func TestAccessTokenCachesUntilExpiry(t *testing.T) {
	s := newTokenServer()
	a := NewAccessToken("test", s.now, s.fetch)
	mustGet(t, a, "tok-1")
	mustGet(t, a, "tok-1")
	s.advance(time.Hour - time.Nanosecond)
	mustGet(t, a, "tok-1")
	s.advance(time.Nanosecond) // at the expiry the token is no longer used
	mustGet(t, a, "tok-2")
	if n := s.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

func TestAccessTokenInvalidate(t *testing.T) {
	s := newTokenServer()
	a := NewAccessToken("test", s.now, s.fetch)
	mustGet(t, a, "tok-1")

	// Three sends refused with tok-1: one new token.
	for range 3 {
		a.Invalidate("tok-1")
	}
	mustGet(t, a, "tok-2")
	// A send that still held tok-1 learns of its refusal late: tok-2 stays.
	a.Invalidate("tok-1")
	mustGet(t, a, "tok-2")
	a.Invalidate("")
	mustGet(t, a, "tok-2")
	if n := s.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

func TestAccessTokenFetchError(t *testing.T) {
	s := newTokenServer()
	refused := &Error{Vendor: "test", Kind: KindAuth, Code: "invalid_client"}
	s.err = refused
	a := NewAccessToken("test", s.now, s.fetch)
	if _, err := a.Get(context.Background()); err != refused {
		t.Fatalf("Get = %v, want the fetch's error as it is", err)
	}
	s.mu.Lock()
	s.err = nil
	s.mu.Unlock()
	mustGet(t, a, "tok-2") // a failure is not cached
}

func TestAccessTokenOneFetchAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newTokenServer()
		s.gate = make(chan struct{})
		a := NewAccessToken("test", s.now, s.fetch)
		var wg sync.WaitGroup
		got := make([]string, 20)
		for i := range got {
			wg.Go(func() {
				tok, err := a.Get(context.Background())
				if err != nil {
					t.Error(err)
				}
				got[i] = tok
			})
		}
		synctest.Wait() // one fetch waits at the gate, the others for it
		close(s.gate)
		wg.Wait()
		if n := s.fetches.Load(); n != 1 {
			t.Errorf("20 concurrent Gets made %d fetches, want 1", n)
		}
		for i, tok := range got {
			if tok != "tok-1" {
				t.Errorf("Get %d = %q, want tok-1", i, tok)
			}
		}
	})
}

func TestAccessTokenWaitRespectsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newTokenServer()
		s.gate = make(chan struct{})
		a := NewAccessToken("test", s.now, s.fetch)
		first := make(chan error, 1)
		go func() {
			_, err := a.Get(context.Background())
			first <- err
		}()
		synctest.Wait() // the first Get is fetching

		ctx, cancel := context.WithCancel(context.Background())
		second := make(chan error, 1)
		go func() {
			_, err := a.Get(ctx)
			second <- err
		}()
		synctest.Wait() // the second waits for the first's fetch
		cancel()
		err := <-second
		var e *Error
		if !errors.As(err, &e) || e.Vendor != "test" || e.Kind != KindRetry || !errors.Is(err, context.Canceled) {
			t.Errorf("Get with a cancelled ctx = %v, want a KindRetry *Error wrapping context.Canceled", err)
		}

		close(s.gate)
		if err := <-first; err != nil {
			t.Errorf("first Get: %v", err)
		}
		mustGet(t, a, "tok-1")
	})
}

func TestAccessTokenUse(t *testing.T) {
	refusedErr := &Error{Vendor: "test", Kind: KindAuth, Code: "expired"}
	tests := []struct {
		name    string
		refuse  int   // how many sends the vendor refuses the token for
		fetch   error // the fetch's error after the first token
		sends   []string
		fetches int32
		wantErr error
	}{
		{"accepted", 0, nil, []string{"tok-1"}, 1, nil},
		{"refused once: one new token", 1, nil, []string{"tok-1", "tok-2"}, 2, nil},
		{"refused twice: no third try", 2, nil, []string{"tok-1", "tok-2"}, 2, refusedErr},
		{"no new token", 1, errors.New("down"), []string{"tok-1"}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTokenServer()
			a := NewAccessToken("test", s.now, s.fetch)
			mustGet(t, a, "tok-1")
			s.mu.Lock()
			s.err = tt.fetch
			s.mu.Unlock()
			var sent []string
			err := a.Use(context.Background(), func(token string) (bool, error) {
				sent = append(sent, token)
				if len(sent) <= tt.refuse {
					return true, refusedErr
				}
				return false, nil
			})
			want := tt.wantErr
			if tt.fetch != nil {
				want = tt.fetch
			}
			if err != want || !slices.Equal(sent, tt.sends) || s.fetches.Load() != tt.fetches {
				t.Errorf("Use = %v after sends with %v and %d fetches; want %v, %v, %d", err, sent, s.fetches.Load(), want, tt.sends, tt.fetches)
			}
		})
	}
}
