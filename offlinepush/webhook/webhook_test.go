package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/loftchat/loft/offlinepush"
)

const secret = "s3cret-s3cret-s3cret"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// receiver is the app's push endpoint: it verifies every request the way
// doc.go tells apps to, with Verify, and decodes it strictly.
type receiver struct {
	tb  testing.TB
	srv *httptest.Server
	now func() time.Time // the receiver's clock
	// respond, if set, answers instead of 204 after the checks pass.
	respond func(w http.ResponseWriter)

	mu   sync.Mutex
	got  []Payload // guarded by mu
	raw  [][]byte  // guarded by mu
	errs []string  // guarded by mu
}

func newReceiver(tb testing.TB) *receiver {
	tb.Helper()
	r := &receiver{tb: tb, now: func() time.Time { return t0 }}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	tb.Cleanup(r.srv.Close)
	return r
}

func (rc *receiver) url() string { return rc.srv.URL + "/loft/push" }

func (rc *receiver) refuse(w http.ResponseWriter, status int, msg string) {
	rc.mu.Lock()
	rc.errs = append(rc.errs, msg)
	rc.mu.Unlock()
	http.Error(w, msg, status)
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/loft/push" {
		rc.refuse(w, http.StatusNotFound, r.Method+" "+r.URL.Path)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		rc.refuse(w, http.StatusBadRequest, "Content-Type "+ct)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if err := Verify([]byte(secret), r.Header.Get(SignatureHeader), body, rc.now(), time.Minute); err != nil {
		rc.refuse(w, http.StatusUnauthorized, err.Error())
		return
	}
	var p Payload
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		rc.refuse(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	// Every field is always there, with its JSON type.
	var fields map[string]any
	json.Unmarshal(body, &fields)
	for _, k := range []string{"token", "platform", "credential", "title", "body", "data", "badge", "collapse_key", "silent", "sound", "ttl_seconds", "high"} {
		if _, ok := fields[k]; !ok {
			rc.refuse(w, http.StatusBadRequest, "missing field "+k)
			return
		}
	}
	if _, ok := fields["data"].(map[string]any); !ok {
		rc.refuse(w, http.StatusBadRequest, "data is not an object")
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, p)
	rc.raw = append(rc.raw, body)
	rc.mu.Unlock()
	if rc.respond != nil {
		rc.respond(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// pushes returns the accepted requests, failing the test for any request
// refused as malformed or badly signed.
func (rc *receiver) pushes() []Payload {
	rc.tb.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, e := range rc.errs {
		rc.tb.Errorf("receiver refused a request: %s", e)
	}
	rc.errs = nil
	return append([]Payload(nil), rc.got...)
}

func newClient(tb testing.TB, rc *receiver, mut func(*Config)) *Client {
	tb.Helper()
	cfg := Config{URL: rc.url(), Secret: secret, Now: func() time.Time { return t0 }}
	if mut != nil {
		mut(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func intp(n int) *int { return &n }

func TestSendMapsEveryField(t *testing.T) {
	tests := []struct {
		name string
		n    offlinepush.Notification
		want Payload
	}{
		{
			name: "alert",
			n: offlinepush.Notification{
				Token: "tok-1", Platform: "android", Credential: "app2",
				Title: "Ann", Body: "lunch? <3 & \"more\"", Data: map[string]string{"conv": "c1", "seq": "42", "msg_id": "m9"},
				Badge: intp(7), CollapseKey: "conv:c1", Sound: "ping", TTL: 90 * time.Second, High: true,
			},
			want: Payload{
				Token: "tok-1", Platform: "android", Credential: "app2",
				Title: "Ann", Body: "lunch? <3 & \"more\"", Data: map[string]string{"conv": "c1", "seq": "42", "msg_id": "m9"},
				Badge: intp(7), CollapseKey: "conv:c1", Sound: "ping", TTLSeconds: 90, High: true,
			},
		},
		{
			name: "silent, no badge, nil data",
			n:    offlinepush.Notification{Token: "tok-2", Platform: "ios", Silent: true},
			want: Payload{Token: "tok-2", Platform: "ios", Silent: true, Data: map[string]string{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			c := newClient(t, rc, nil)
			if err := c.Send(context.Background(), &tt.n); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := rc.pushes()
			if len(got) != 1 {
				t.Fatalf("receiver got %d requests", len(got))
			}
			if !reflect.DeepEqual(got[0], tt.want) {
				t.Errorf("payload\n got %+v\nwant %+v", got[0], tt.want)
			}
		})
	}
}

func TestSendBadgeNullVersusZero(t *testing.T) {
	rc := newReceiver(t)
	c := newClient(t, rc, nil)
	for _, b := range []*int{nil, intp(0)} {
		if err := c.Send(context.Background(), &offlinepush.Notification{Token: "t", Badge: b}); err != nil {
			t.Fatal(err)
		}
	}
	rc.pushes()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !bytes.Contains(rc.raw[0], []byte(`"badge":null`)) || !bytes.Contains(rc.raw[1], []byte(`"badge":0`)) {
		t.Errorf("badge nil and 0 must differ on the wire:\n%s\n%s", rc.raw[0], rc.raw[1])
	}
}

func TestSendFitsLongPreviews(t *testing.T) {
	tests := []struct {
		name, title, body string
	}{
		{"10 KB body", "Ann", strings.Repeat("a", 10<<10)},
		{"10 KB multibyte body", "Ann", strings.Repeat("汉字✓é", 10<<10/10)},
		{"10 KB of characters JSON escapes", "Ann", strings.Repeat("\"\\\n\x01", 10<<10/4)},
		{"huge title", strings.Repeat("T", 8<<10), "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			c := newClient(t, rc, nil)
			n := &offlinepush.Notification{Token: "tok", Title: tt.title, Body: tt.body, Data: map[string]string{"conv": "c1"}}
			if err := c.Send(context.Background(), n); err != nil {
				t.Fatal(err)
			}
			rc.pushes()
			rc.mu.Lock()
			raw, p := rc.raw[0], rc.got[0]
			rc.mu.Unlock()
			if len(raw) > DefaultMaxBody || len(raw) < DefaultMaxBody-8 {
				t.Errorf("body is %d bytes, want just under %d", len(raw), DefaultMaxBody)
			}
			if !utf8.ValidString(p.Title) || !utf8.ValidString(p.Body) {
				t.Error("cut split a character")
			}
			if len(tt.title) < 100 && (p.Title != tt.title || !strings.HasSuffix(p.Body, "…")) {
				t.Errorf("title %q, body ends %q: want the title whole and the body cut", p.Title, p.Body[max(0, len(p.Body)-8):])
			}
			if len(tt.title) >= 100 && (p.Body != "" || !strings.HasSuffix(p.Title, "…")) {
				t.Errorf("huge title: body %q, title cut %v", p.Body, strings.HasSuffix(p.Title, "…"))
			}
			if p.Data["conv"] != "c1" {
				t.Errorf("data %v", p.Data)
			}
		})
	}
}

func TestSendDataTooLarge(t *testing.T) {
	rc := newReceiver(t)
	c := newClient(t, rc, nil)
	err := c.Send(context.Background(), &offlinepush.Notification{Token: "t", Body: "b", Data: map[string]string{"x": strings.Repeat("x", 5000)}})
	if k := offlinepush.KindOf(err); k != offlinepush.KindPayload {
		t.Fatalf("Send = %v (%v), want payload", err, k)
	}
	if len(rc.pushes()) != 0 {
		t.Error("sent a request that cannot fit")
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		status     int
		header     map[string]string
		body       string
		kind       offlinepush.ErrorKind
		code       string
		retryAfter time.Duration
	}{
		{status: 410, body: `{"error":"unregistered"}`, kind: offlinepush.KindTokenInvalid, code: "unregistered"},
		{status: 429, header: map[string]string{"Retry-After": "30"}, kind: offlinepush.KindRetry, retryAfter: 30 * time.Second},
		{status: 503, header: map[string]string{"Retry-After": "Sun, 01 Mar 2026 12:02:00 GMT"}, kind: offlinepush.KindRetry, retryAfter: 2 * time.Minute},
		{status: 500, body: "oops", kind: offlinepush.KindRetry},
		{status: 408, kind: offlinepush.KindRetry},
		{status: 400, body: `{"error":"bad_token_format"}`, kind: offlinepush.KindPayload, code: "bad_token_format"},
		{status: 413, kind: offlinepush.KindPayload},
		{status: 422, kind: offlinepush.KindPayload},
		{status: 401, kind: offlinepush.KindAuth},
		{status: 403, kind: offlinepush.KindAuth},
		{status: 404, kind: offlinepush.KindAuth},
		{status: 308, header: map[string]string{"Location": "https://elsewhere.example/"}, kind: offlinepush.KindAuth},
		{status: 409, kind: offlinepush.KindPayload},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			rc := newReceiver(t)
			rc.respond = func(w http.ResponseWriter) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}
			c := newClient(t, rc, nil)
			err := c.Send(context.Background(), &offlinepush.Notification{Token: "t", Title: "x"})
			var e *offlinepush.Error
			if !errors.As(err, &e) {
				t.Fatalf("Send = %v", err)
			}
			if e.Kind != tt.kind || e.Status != tt.status || e.Code != tt.code || e.RetryAfter != tt.retryAfter || e.Vendor != "webhook" {
				t.Errorf("got kind %v status %d code %q retry %v vendor %q; want %v %d %q %v",
					e.Kind, e.Status, e.Code, e.RetryAfter, e.Vendor, tt.kind, tt.status, tt.code, tt.retryAfter)
			}
			if n := len(rc.pushes()); n != 1 {
				t.Errorf("receiver saw %d requests, want 1", n)
			}
		})
	}
}

func TestSendTimeoutAndNetworkErrorsRetry(t *testing.T) {
	rc := newReceiver(t)
	release := make(chan struct{})
	rc.respond = func(w http.ResponseWriter) { <-release }
	c := newClient(t, rc, func(cfg *Config) { cfg.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond} })
	err := c.Send(context.Background(), &offlinepush.Notification{Token: "t"})
	close(release)
	if k := offlinepush.KindOf(err); k != offlinepush.KindRetry {
		t.Errorf("timeout: %v (%v), want retry", err, k)
	}

	rc2 := newReceiver(t)
	c2 := newClient(t, rc2, nil)
	rc2.srv.Close()
	err = c2.Send(context.Background(), &offlinepush.Notification{Token: "t"})
	var e *offlinepush.Error
	if !errors.As(err, &e) || e.Kind != offlinepush.KindRetry {
		t.Errorf("closed server: %v, want a retry *offlinepush.Error", err)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no URL", Config{Secret: secret}, "URL is required"},
		{"not http", Config{URL: "ftp://x/", Secret: secret}, "not an http"},
		{"relative URL", Config{URL: "/push", Secret: secret}, "not an http"},
		{"no secret", Config{URL: "https://app.example/push"}, "Secret is required"},
		{"short secret", Config{URL: "https://app.example/push", Secret: "short"}, "at least 16"},
		{"tiny MaxBody", Config{URL: "https://app.example/push", Secret: secret, MaxBody: 10}, "MaxBody"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	c, err := New(Config{URL: "https://app.example/push", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "webhook" {
		t.Errorf("Name() = %q", c.Name())
	}
}

func TestReceiverRefusesWrongSecretAndOldRequests(t *testing.T) {
	rc := newReceiver(t)
	tests := []struct {
		name string
		cfg  func(*Config)
	}{
		{"other secret", func(c *Config) { c.Secret = "another-secret-entirely" }},
		{"signed 2 minutes ago", func(c *Config) { c.Now = func() time.Time { return t0.Add(-2 * time.Minute) } }},
		{"signed 2 minutes ahead", func(c *Config) { c.Now = func() time.Time { return t0.Add(2 * time.Minute) } }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, rc, tt.cfg)
			err := c.Send(context.Background(), &offlinepush.Notification{Token: "t"})
			if k := offlinepush.KindOf(err); k != offlinepush.KindAuth {
				t.Errorf("Send = %v (%v), want the receiver's 401 as auth", err, k)
			}
		})
	}
	rc.mu.Lock()
	refused := len(rc.errs)
	rc.errs = nil
	rc.mu.Unlock()
	if refused != len(tests) {
		t.Errorf("receiver refused %d requests, want %d", refused, len(tests))
	}
}
