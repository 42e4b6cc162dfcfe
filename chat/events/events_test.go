package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loftchat/loft/offlinepush/webhook"
)

const testSecret = "0123456789abcdef-secret"

// request is one POST a receiver got.
type request struct {
	at     time.Time
	header http.Header
	body   []byte
}

// receiver is an httptest endpoint that records requests and answers
// with answer(n), n counting from 1.
type receiver struct {
	*httptest.Server
	got chan request
}

func newReceiver(tb testing.TB, answer func(n int, w http.ResponseWriter)) *receiver {
	tb.Helper()
	r := &receiver{got: make(chan request, 100)}
	var mu sync.Mutex
	n := 0
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		r.got <- request{at: time.Now(), header: req.Header.Clone(), body: body}
		if answer == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		answer(i, w)
	}))
	tb.Cleanup(r.Close)
	return r
}

// sent is one event of a request's body.
type sent struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Time string          `json:"time"`
	Data json.RawMessage `json:"data"`
}

// events parses the body {"events":[...]}, strictly.
func (r request) events(tb testing.TB) []sent {
	tb.Helper()
	var b struct {
		Events []sent `json:"events"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || len(b.Events) == 0 {
		tb.Fatalf("body %s: %v", r.body, err)
	}
	return b.Events
}

// nextEvents waits for requests until they hold n events, and returns
// the events.
func (r *receiver) nextEvents(tb testing.TB, n int) []sent {
	tb.Helper()
	var evs []sent
	for len(evs) < n {
		evs = append(evs, r.next(tb).events(tb)...)
	}
	if len(evs) != n {
		tb.Fatalf("%d events, want %d", len(evs), n)
	}
	return evs
}

// next waits for the next request.
func (r *receiver) next(tb testing.TB) request {
	tb.Helper()
	select {
	case req := <-r.got:
		return req
	case <-time.After(10 * time.Second):
		tb.Fatal("no request arrived")
		return request{}
	}
}

// none checks that no request arrives within d.
func (r *receiver) none(tb testing.TB, d time.Duration) {
	tb.Helper()
	select {
	case req := <-r.got:
		tb.Fatalf("unexpected request %s", req.body)
	case <-time.After(d):
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// start returns a started Queue closed at cleanup.
func start(tb testing.TB, cfg Config) *Queue {
	tb.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	q, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	q.Start()
	tb.Cleanup(func() { q.Close(context.Background()) })
	return q
}

// waitStats polls until ok(q.Stats()) or fails.
func waitStats(tb testing.TB, q *Queue, ok func(Stats) bool) Stats {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := q.Stats()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("stats never matched: %+v", s)
		}
		time.Sleep(5 * time.Millisecond) // polling the stats, not a test clock
	}
}

func TestDeliverySignedAndShaped(t *testing.T) {
	r := newReceiver(t, nil)
	kv := newMemKV()
	q := start(t, Config{KV: kv, Endpoints: []Endpoint{{URL: r.URL, Secret: testSecret}}})
	when := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	if err := q.Emit(context.Background(), Event{Type: "message.stored", Time: when, Data: json.RawMessage(`{"conv":"c1","seq":42}`)}); err != nil {
		t.Fatal(err)
	}
	req := r.next(t)
	if err := webhook.Verify([]byte(testSecret), req.header.Get(webhook.SignatureHeader), req.body, time.Now(), 0); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := webhook.Verify([]byte("another-secret-of-16"), req.header.Get(webhook.SignatureHeader), req.body, time.Now(), 0); !errors.Is(err, webhook.ErrSignature) {
		t.Fatalf("Verify with the wrong secret: %v", err)
	}
	if ct := req.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	evs := req.events(t)
	if len(evs) != 1 {
		t.Fatalf("body %s, want one event", req.body)
	}
	b := evs[0]
	if b.ID == "" || req.header.Get(DeliveryIDHeader) == "" || req.header.Get("Loft-Event-Id") != "" {
		t.Errorf("id %q, headers %v", b.ID, req.header)
	}
	if b.Type != "message.stored" || b.Time != "2026-03-01T12:00:00.123Z" || string(b.Data) != `{"conv":"c1","seq":42}` {
		t.Errorf("body %s", req.body)
	}
	const want = `{"events":[{"id":"` // the array even for one event, the id first
	if !bytes.HasPrefix(req.body, []byte(want)) {
		t.Errorf("body %s, want it to start %s", req.body, want)
	}
	waitStats(t, q, func(s Stats) bool { return s.Delivered == 1 })
	if s := q.Stats(); s != (Stats{Queued: 1, Delivered: 1}) {
		t.Errorf("stats %+v", s)
	}
	if n := kv.len(); n != 0 {
		t.Errorf("%d records left in the KV", n)
	}
}

func TestTypesFilterPerEndpoint(t *testing.T) {
	all := newReceiver(t, nil)
	pushes := newReceiver(t, nil)
	q := start(t, Config{KV: newMemKV(), Endpoints: []Endpoint{
		{URL: all.URL, Secret: testSecret},
		{URL: pushes.URL, Secret: testSecret, Types: []string{"push.failed", "device.kicked"}},
	}})
	ctx := context.Background()
	for _, typ := range []string{"message.stored", "push.failed", "device.kicked", "message.stored"} {
		if err := q.Emit(ctx, Event{Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	waitStats(t, q, func(s Stats) bool { return s.Delivered == 6 })
	types := func(r *receiver, n int) []string {
		var got []string
		for _, ev := range r.nextEvents(t, n) {
			got = append(got, ev.Type)
		}
		slices.Sort(got)
		return got
	}
	if got := types(all, 4); !slices.Equal(got, []string{"device.kicked", "message.stored", "message.stored", "push.failed"}) {
		t.Errorf("all got %v", got)
	}
	if got := types(pushes, 2); !slices.Equal(got, []string{"device.kicked", "push.failed"}) {
		t.Errorf("pushes got %v", got)
	}
	if s := q.Stats(); s.Queued != 6 {
		t.Errorf("stats %+v", s)
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	r := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	kv := newMemKV()
	q := start(t, Config{KV: kv, Endpoints: []Endpoint{{URL: r.URL, Secret: testSecret}}, MinBackoff: time.Millisecond})
	if err := q.Emit(context.Background(), Event{Type: "push.failed"}); err != nil {
		t.Fatal(err)
	}
	first, second := r.next(t), r.next(t)
	if gap := second.at.Sub(first.at); gap < 990*time.Millisecond {
		t.Errorf("retried after %v, want Retry-After's 1 s", gap)
	}
	if id := first.header.Get(DeliveryIDHeader); id == "" || id != second.header.Get(DeliveryIDHeader) {
		t.Errorf("delivery id %q then %q: want it kept across attempts", id, second.header.Get(DeliveryIDHeader))
	}
	if !bytes.Equal(first.body, second.body) {
		t.Errorf("body %s then %s", first.body, second.body)
	}
	if err := webhook.Verify([]byte(testSecret), second.header.Get(webhook.SignatureHeader), second.body, time.Now(), 0); err != nil {
		t.Errorf("retry's signature: %v", err)
	}
	s := waitStats(t, q, func(s Stats) bool { return s.Delivered == 1 })
	if s != (Stats{Queued: 1, Delivered: 1, Retried: 1}) {
		t.Errorf("stats %+v", s)
	}
	if n := kv.len(); n != 0 {
		t.Errorf("%d records left in the KV", n)
	}
}

func TestDropped(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		attempts int
	}{
		{"410 gone", http.StatusGone, 1},
		{"400 bad request", http.StatusBadRequest, 1},
		{"401 unauthorized", http.StatusUnauthorized, 1},
		{"302 redirect not followed", http.StatusFound, 1},
		{"500 until MaxAttempts", http.StatusInternalServerError, 3},
		{"429 until MaxAttempts", http.StatusTooManyRequests, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver(t, func(_ int, w http.ResponseWriter) {
				w.Header().Set("Location", "http://example.invalid/")
				w.WriteHeader(tc.status)
			})
			kv := newMemKV()
			q := start(t, Config{KV: kv, Endpoints: []Endpoint{{URL: r.URL, Secret: testSecret}}, MinBackoff: time.Millisecond, MaxAttempts: 3})
			if err := q.Emit(context.Background(), Event{Type: "device.kicked"}); err != nil {
				t.Fatal(err)
			}
			for range tc.attempts {
				r.next(t)
			}
			s := waitStats(t, q, func(s Stats) bool { return s.Failed == 1 })
			r.none(t, 50*time.Millisecond)
			if want := (Stats{Queued: 1, Failed: 1, Retried: uint64(tc.attempts - 1)}); s != want {
				t.Errorf("stats %+v, want %+v", s, want)
			}
			if n := kv.len(); n != 0 {
				t.Errorf("%d records left in the KV", n)
			}
		})
	}
}

func TestMaxAgeGivesUp(t *testing.T) {
	r := newReceiver(t, func(_ int, w http.ResponseWriter) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	kv := newMemKV()
	q := start(t, Config{KV: kv, Endpoints: []Endpoint{{URL: r.URL, Secret: testSecret}}, MaxAge: time.Minute})
	if err := q.Emit(context.Background(), Event{Type: "push.failed"}); err != nil {
		t.Fatal(err)
	}
	r.next(t)
	if s := waitStats(t, q, func(s Stats) bool { return s.Failed == 1 }); s.Retried != 0 {
		t.Errorf("stats %+v", s)
	}
	if n := kv.len(); n != 0 {
		t.Errorf("%d records left in the KV", n)
	}
}

func TestRestartDeliversPending(t *testing.T) {
	r := newReceiver(t, nil)
	kv := newMemKV()
	cfg := Config{KV: kv, Endpoints: []Endpoint{{URL: r.URL, Secret: testSecret}}, Logger: quietLogger()}
	old, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Never started: the events wait in the KV, as after a crash.
	var ids []string
	for _, typ := range []string{"message.stored", "push.failed"} {
		ev := Event{Type: typ, Data: json.RawMessage(`{}`)}
		if err := old.Emit(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.none(t, 20*time.Millisecond)
	if n := kv.len(); n != 2 {
		t.Fatalf("%d jobs in the KV, want 2", n)
	}
	q := start(t, cfg)
	for range 2 {
		req := r.next(t)
		ids = append(ids, req.events(t)[0].ID)
		if err := webhook.Verify([]byte(testSecret), req.header.Get(webhook.SignatureHeader), req.body, time.Now(), 0); err != nil {
			t.Error(err)
		}
	}
	waitStats(t, q, func(s Stats) bool { return s.Delivered == 2 })
	if ids[0] == ids[1] || ids[0] == "" {
		t.Errorf("ids %q", ids)
	}
	if n := kv.len(); n != 0 {
		t.Errorf("%d records left in the KV", n)
	}
}

func TestCloseWaitsForInFlight(t *testing.T) {
	release := make(chan struct{})
	r := newReceiver(t, func(_ int, w http.ResponseWriter) {
		<-release
		w.WriteHeader(http.StatusOK)
	})
	kv := newMemKV()
	q, err := New(Config{KV: kv, Endpoints: []Endpoint{{URL: r.URL, Secret: testSecret}}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	if err := q.Emit(context.Background(), Event{Type: "message.stored"}); err != nil {
		t.Fatal(err)
	}
	r.next(t) // in flight
	closed := make(chan error, 1)
	go func() { closed <- q.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v with a delivery in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if s := q.Stats(); s.Delivered != 1 {
		t.Errorf("stats after Close %+v", s)
	}
	if n := kv.len(); n != 0 {
		t.Errorf("%d records left in the KV", n)
	}
	if err := q.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseDeadlineAbortsAndKeepsJob(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	r := newReceiver(t, func(_ int, w http.ResponseWriter) {
		<-release
	})
	kv := newMemKV()
	q, err := New(Config{KV: kv, Endpoints: []Endpoint{{URL: r.URL, Secret: testSecret}}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	if err := q.Emit(context.Background(), Event{Type: "message.stored"}); err != nil {
		t.Fatal(err)
	}
	r.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := q.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v", err)
	}
	if s := q.Stats(); s != (Stats{Queued: 1}) {
		t.Errorf("stats %+v", s)
	}
	if n := kv.len(); n != 1 {
		t.Errorf("%d jobs in the KV, want the aborted one kept", n)
	}
}

func TestEmitWithoutMatchingEndpointWritesNothing(t *testing.T) {
	kv := newMemKV()
	q := start(t, Config{KV: kv, Endpoints: []Endpoint{{URL: "http://127.0.0.1:1/", Secret: testSecret, Types: []string{"push.failed"}}}})
	if err := q.Emit(context.Background(), Event{Type: "message.stored"}); err != nil {
		t.Fatal(err)
	}
	if n := kv.len(); n != 0 || q.Stats() != (Stats{}) {
		t.Errorf("%d records, stats %+v", n, q.Stats())
	}
}

func TestEmitRejects(t *testing.T) {
	q := start(t, Config{KV: newMemKV(), Endpoints: []Endpoint{{URL: "http://127.0.0.1:1/", Secret: testSecret}}})
	for name, ev := range map[string]Event{
		"no type":       {},
		"long type":     {Type: strings.Repeat("x", 200)},
		"nul in id":     {Type: "a", ID: "a\x00b"},
		"long id":       {Type: "a", ID: strings.Repeat("x", 200)},
		"data not json": {Type: "a", Data: json.RawMessage(`{`)},
	} {
		if err := q.Emit(context.Background(), ev); !errors.Is(err, ErrEvent) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	kv := newMemKV()
	for name, cfg := range map[string]Config{
		"no KV":         {},
		"bad URL":       {KV: kv, Endpoints: []Endpoint{{URL: "ftp://x/", Secret: testSecret}}},
		"no host":       {KV: kv, Endpoints: []Endpoint{{URL: "http:///p", Secret: testSecret}}},
		"short secret":  {KV: kv, Endpoints: []Endpoint{{URL: "http://x/", Secret: "short"}}},
		"duplicate URL": {KV: kv, Endpoints: []Endpoint{{URL: "http://x/", Secret: testSecret}, {URL: "http://x/", Secret: testSecret}}},
		"negative":      {KV: kv, MaxAttempts: -1},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := New(Config{KV: kv}); err != nil {
		t.Errorf("minimal config: %v", err)
	}
}

func TestIDsAreUniqueAndSorted(t *testing.T) {
	q, err := New(Config{KV: newMemKV()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	prev := ""
	for i := range 1000 {
		at := now.Add(time.Duration(i%7) * time.Millisecond) // the clock may step back
		id := q.newID(at)
		if len(id) != 28 || id <= prev {
			t.Fatalf("id %q after %q", id, prev)
		}
		prev = id
	}
}

func TestBackoff(t *testing.T) {
	for range 100 {
		if d := backoff(time.Second, 1, 0); d < 500*time.Millisecond || d > 1500*time.Millisecond {
			t.Fatalf("first backoff %v", d)
		}
		if d := backoff(time.Second, 40, 0); d > time.Hour {
			t.Fatalf("backoff %v over an hour", d)
		}
		if d := backoff(time.Millisecond, 1, 5*time.Second); d != 5*time.Second {
			t.Fatalf("Retry-After not honoured: %v", d)
		}
		if d := backoff(time.Millisecond, 1, 10*time.Hour); d != time.Hour {
			t.Fatalf("Retry-After not clamped: %v", d)
		}
	}
}

func TestBacklogLargerThanOneScan(t *testing.T) {
	r := newReceiver(t, nil)
	q := start(t, Config{KV: newMemKV(), Endpoints: []Endpoint{{URL: r.URL, Secret: testSecret}}})
	const n = maxScan + 100
	for range n {
		if err := q.Emit(context.Background(), Event{Type: "message.stored"}); err != nil {
			t.Fatal(err)
		}
	}
	seen := make(map[string]bool)
	deliveries := make(map[string]bool)
	for len(seen) < n {
		req := r.next(t)
		deliveries[req.header.Get(DeliveryIDHeader)] = true
		for _, ev := range req.events(t) {
			if seen[ev.ID] {
				t.Fatalf("event %s twice", ev.ID)
			}
			seen[ev.ID] = true
		}
	}
	if len(deliveries) != n {
		t.Errorf("%d deliveries, want one per Emit, %d", len(deliveries), n)
	}
	waitStats(t, q, func(s Stats) bool { return s.Delivered == n })
}

// countHandler counts the records logged at Warn or above.
type countHandler struct {
	mu sync.Mutex
	n  int // guarded by mu
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.mu.Lock()
		h.n++
		h.mu.Unlock()
	}
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

func (h *countHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

func TestRemovedEndpointDropsItsJobsWithFewLogs(t *testing.T) {
	r := newReceiver(t, nil)
	kv := newMemKV()
	old, err := New(Config{KV: kv, Endpoints: []Endpoint{{URL: "http://removed.invalid/", Secret: testSecret}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := old.Emit(context.Background(), Event{Type: "device.kicked"}); err != nil {
			t.Fatal(err)
		}
	}
	old.Close(context.Background())
	logs := &countHandler{}
	q := start(t, Config{KV: kv, Endpoints: []Endpoint{{URL: r.URL, Secret: testSecret}}, Logger: slog.New(logs)})
	waitStats(t, q, func(s Stats) bool { return s.Failed == 5 })
	r.none(t, 20*time.Millisecond)
	if n := kv.len(); n != 0 {
		t.Errorf("%d records left in the KV", n)
	}
	if n := logs.count(); n != 1 {
		t.Errorf("%d warnings for 5 drops to one endpoint, want 1", n)
	}
}
