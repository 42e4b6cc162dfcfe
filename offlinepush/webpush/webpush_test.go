package webpush

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/loftchat/loft/offlinepush"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time // guarded by mu
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	client  *Client
	service *pushService
	browser *browser
	clock   *clock
	token   string
	cfg     Config
}

func setup(tb testing.TB) *fixture {
	tb.Helper()
	pub, priv, err := GenerateVAPIDKeys()
	if err != nil {
		tb.Fatal(err)
	}
	clk := newClock()
	b := newBrowser(tb)
	svc := newPushService(tb, b, pub, clk.Now)
	cfg := Config{
		VAPIDPublicKey:  pub,
		VAPIDPrivateKey: priv,
		Subscriber:      "mailto:push@loft.example",
		HTTPClient:      svc.srv.Client(),
		Now:             clk.Now,
	}
	c, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{client: c, service: svc, browser: b, clock: clk, token: b.token(svc.endpoint()), cfg: cfg}
}

func intp(n int) *int { return &n }

func TestSendDecryptsAtTheBrowser(t *testing.T) {
	data := map[string]string{"conv": "c1", "seq": "42", "msg_id": "m9"}
	tests := []struct {
		name        string
		n           offlinepush.Notification
		wantMessage map[string]any
		wantTTL     string
		wantUrgency string
		wantTopic   bool
	}{
		{
			name: "alert",
			n:    offlinepush.Notification{Title: "Ann", Body: "lunch? <3 & more", Data: data, Badge: intp(3), CollapseKey: "conv:c1", TTL: time.Hour, High: true},
			wantMessage: map[string]any{
				"title": "Ann", "body": "lunch? <3 & more", "badge": 3.0, "tag": "conv:c1",
				"data": map[string]any{"conv": "c1", "seq": "42", "msg_id": "m9"},
			},
			wantTTL: "3600", wantUrgency: "high", wantTopic: true,
		},
		{
			name: "normal priority, default TTL, no collapse key",
			n:    offlinepush.Notification{Title: "Bo", Body: "hi", Data: data},
			wantMessage: map[string]any{
				"title": "Bo", "body": "hi",
				"data": map[string]any{"conv": "c1", "seq": "42", "msg_id": "m9"},
			},
			wantTTL: "2419200", wantUrgency: "normal",
		},
		{
			name: "silent drops the alert and stays normal priority",
			n:    offlinepush.Notification{Title: "Ann", Body: "secret", Data: data, Silent: true, High: true, Badge: intp(0)},
			wantMessage: map[string]any{
				"silent": true, "badge": 0.0,
				"data": map[string]any{"conv": "c1", "seq": "42", "msg_id": "m9"},
			},
			wantTTL: "2419200", wantUrgency: "normal",
		},
		{
			name:        "no title or body is silent, nil data is an empty object",
			n:           offlinepush.Notification{},
			wantMessage: map[string]any{"silent": true, "data": map[string]any{}},
			wantTTL:     "2419200", wantUrgency: "normal",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			n := tt.n
			n.Token = f.token
			n.Platform = "web"
			if err := f.client.Send(context.Background(), &n); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := f.service.pushes()
			if len(got) != 1 {
				t.Fatalf("push service got %d pushes, want 1", len(got))
			}
			p := got[0]
			if !reflect.DeepEqual(p.Message, tt.wantMessage) {
				t.Errorf("decrypted message\n got %v\nwant %v", p.Message, tt.wantMessage)
			}
			if v := p.Header.Get("TTL"); v != tt.wantTTL {
				t.Errorf("TTL %q, want %q", v, tt.wantTTL)
			}
			if v := p.Header.Get("Urgency"); v != tt.wantUrgency {
				t.Errorf("Urgency %q, want %q", v, tt.wantUrgency)
			}
			if v := p.Header.Get("Content-Type"); v != "application/octet-stream" {
				t.Errorf("Content-Type %q", v)
			}
			if _, ok := p.Header["Topic"]; ok != tt.wantTopic {
				t.Errorf("Topic header present %v, want %v", ok, tt.wantTopic)
			}
			if p.Claims.Sub != "mailto:push@loft.example" {
				t.Errorf("sub %q", p.Claims.Sub)
			}
			if want := f.clock.Now().Add(12 * time.Hour).Unix(); p.Claims.Exp != want {
				t.Errorf("exp %d, want now+12h %d", p.Claims.Exp, want)
			}
		})
	}
}

func TestTopic(t *testing.T) {
	long := strings.Repeat("conversation-with-a-very-long-id/", 10)
	for _, key := range []string{"c", "conv:1", long, "ünïcode ✓"} {
		got := topic(key)
		if !topicRE.MatchString(got) || len(got) != 32 {
			t.Errorf("topic(%q) = %q, want 32 base64url characters", key, got)
		}
		if topic(key) != got {
			t.Errorf("topic(%q) is not stable", key)
		}
	}
	if topic("conv:1") == topic("conv:2") {
		t.Error("different collapse keys share a topic")
	}
}

func TestSendFitsLongPreviews(t *testing.T) {
	data := map[string]string{"conv": "c1", "seq": "42", "msg_id": "m9"}
	tests := []struct {
		name  string
		title string
		body  string
	}{
		{"10 KB ASCII body", "Ann", strings.Repeat("a", 10<<10)},
		{"10 KB multibyte body", "Ann", strings.Repeat("汉字✓é", 10<<10/10)},
		{"10 KB of characters JSON escapes", "Ann", strings.Repeat("\"\\\n", 10<<10/3)},
		{"long title, long body", strings.Repeat("T", 6<<10), strings.Repeat("b", 10<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			n := &offlinepush.Notification{Token: f.token, Title: tt.title, Body: tt.body, Data: data, CollapseKey: "conv:c1"}
			if err := f.client.Send(context.Background(), n); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := f.service.pushes()
			if len(got) != 1 {
				t.Fatalf("got %d pushes", len(got))
			}
			if l := len(got[0].Body); l > MaxBody {
				t.Errorf("encrypted body is %d bytes, over %d", l, MaxBody)
			} else if l < MaxBody-8 {
				t.Errorf("encrypted body is %d bytes: cut far more than needed", l)
			}
			m := got[0].Message
			title, _ := m["title"].(string)
			body, _ := m["body"].(string)
			if !utf8.ValidString(title) || !utf8.ValidString(body) {
				t.Error("cut split a character")
			}
			if len(tt.title) < 1000 && title != tt.title {
				t.Errorf("a short title was cut to %q", title)
			}
			if len(tt.title) >= 1000 && (!strings.HasSuffix(title, "…") || body != "") {
				t.Errorf("with a huge title the body goes first, then the title is cut: title %d bytes, body %q", len(title), body)
			}
			if len(tt.title) < 1000 && !strings.HasSuffix(body, "…") {
				t.Errorf("cut body does not end with an ellipsis: ...%q", body[max(0, len(body)-10):])
			}
			if !reflect.DeepEqual(m["data"], map[string]any{"conv": "c1", "seq": "42", "msg_id": "m9"}) {
				t.Errorf("data %v was touched", m["data"])
			}
		})
	}
}

func TestSendDataTooLargeIsPayload(t *testing.T) {
	f := setup(t)
	n := &offlinepush.Notification{Token: f.token, Title: "t", Body: "b", Data: map[string]string{"blob": strings.Repeat("x", 5000)}}
	err := f.client.Send(context.Background(), n)
	if k := offlinepush.KindOf(err); k != offlinepush.KindPayload {
		t.Fatalf("Send = %v (%v), want payload", err, k)
	}
	if got := f.service.pushes(); len(got) != 0 {
		t.Errorf("a push that cannot fit was sent")
	}
}

func TestMaxBodyLowers(t *testing.T) {
	f := setup(t)
	cfg := f.cfg
	cfg.MaxBody = 3000
	cfg.Subscriber = "push@loft.example"
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(context.Background(), &offlinepush.Notification{Token: f.token, Title: "t", Body: strings.Repeat("b", 10<<10)}); err != nil {
		t.Fatal(err)
	}
	got := f.service.pushes()
	if len(got) != 1 {
		t.Fatalf("got %d pushes", len(got))
	}
	if l := len(got[0].Body); l > 3000 || l < 2990 {
		t.Errorf("with MaxBody 3000 the body is %d bytes", l)
	}
	if got[0].Claims.Sub != "mailto:push@loft.example" {
		t.Errorf("bare subscriber address became %q", got[0].Claims.Sub)
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		kind       offlinepush.ErrorKind
		code       string
		retryAfter time.Duration
	}{
		{name: "410 gone (Mozilla)", status: 410, body: `{"code": 410, "errno": 106, "error": "Gone", "message": "Request did not validate UA is not subscribed"}`, kind: offlinepush.KindTokenInvalid, code: "106"},
		{name: "410 unregistered (Apple)", status: 410, body: `{"reason":"Unregistered"}`, kind: offlinepush.KindTokenInvalid, code: "Unregistered"},
		{name: "404 expired (Google)", status: 404, body: "push subscription has unsubscribed or expired.\n", kind: offlinepush.KindTokenInvalid},
		{name: "301 moved (Mozilla bridge)", status: 301, header: map[string]string{"Location": "https://elsewhere.example/wpush"}, kind: offlinepush.KindTokenInvalid},
		{name: "413 too large", status: 413, body: `{"code": 413, "errno": 104, "error": "Payload Too Large"}`, kind: offlinepush.KindPayload, code: "104"},
		{name: "400 bad request", status: 400, body: `{"reason":"BadExpirationDate"}`, kind: offlinepush.KindPayload, code: "BadExpirationDate"},
		{name: "400 UnauthorizedRegistration (Google)", status: 400, body: "<HTML><TITLE>UnauthorizedRegistration</TITLE></HTML>", kind: offlinepush.KindAuth, code: "UnauthorizedRegistration"},
		{name: "401 VAPID rejected", status: 401, body: `{"code": 401, "errno": 109, "error": "Unauthorized"}`, kind: offlinepush.KindAuth, code: "109"},
		{name: "403 bad JWT (Apple)", status: 403, body: `{"reason":"BadJwtToken"}`, kind: offlinepush.KindAuth, code: "BadJwtToken"},
		{name: "429 with Retry-After", status: 429, header: map[string]string{"Retry-After": "120"}, body: `{"reason":"TooManyRequests"}`, kind: offlinepush.KindRetry, code: "TooManyRequests", retryAfter: 2 * time.Minute},
		{name: "503 with an HTTP date", status: 503, header: map[string]string{"Retry-After": "Sun, 01 Mar 2026 12:00:30 GMT"}, kind: offlinepush.KindRetry, retryAfter: 30 * time.Second},
		{name: "500", status: 500, kind: offlinepush.KindRetry},
		{name: "other 4xx", status: 405, kind: offlinepush.KindPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			f.service.respond = func(w http.ResponseWriter) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}
			err := f.client.Send(context.Background(), &offlinepush.Notification{Token: f.token, Title: "t", Body: "b"})
			var e *offlinepush.Error
			if !errors.As(err, &e) {
				t.Fatalf("Send = %v, want an *offlinepush.Error", err)
			}
			if e.Kind != tt.kind || e.Status != tt.status || e.Code != tt.code || e.RetryAfter != tt.retryAfter || e.Vendor != "webpush" {
				t.Errorf("got kind %v status %d code %q retry after %v vendor %q\nwant kind %v status %d code %q retry after %v",
					e.Kind, e.Status, e.Code, e.RetryAfter, e.Vendor, tt.kind, tt.status, tt.code, tt.retryAfter)
			}
			if n := len(f.service.pushes()); n != 1 {
				t.Errorf("push service saw %d requests, want 1 (no retries, no redirect followed)", n)
			}
		})
	}
}

func TestSendNetworkErrorsRetry(t *testing.T) {
	f := setup(t)
	f.service.srv.Close()
	err := f.client.Send(context.Background(), &offlinepush.Notification{Token: f.token, Title: "t"})
	if k := offlinepush.KindOf(err); k != offlinepush.KindRetry {
		t.Errorf("closed server: %v (%v), want retry", err, k)
	}

	f = setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = f.client.Send(ctx, &offlinepush.Notification{Token: f.token, Title: "t"})
	if k := offlinepush.KindOf(err); k != offlinepush.KindRetry || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v (%v), want retry wrapping context.Canceled", err, k)
	}
}

func TestSendBadTokens(t *testing.T) {
	f := setup(t)
	good := func(mut func(m map[string]any)) string {
		var m map[string]any
		json.Unmarshal([]byte(f.token), &m)
		mut(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	keys := func(m map[string]any) map[string]any { return m["keys"].(map[string]any) }
	tests := map[string]string{
		"not JSON":       "fcm:abc123",
		"empty":          "",
		"no endpoint":    good(func(m map[string]any) { delete(m, "endpoint") }),
		"http endpoint":  good(func(m map[string]any) { m["endpoint"] = "http://push.example/x" }),
		"relative":       good(func(m map[string]any) { m["endpoint"] = "/wpush/x" }),
		"userinfo":       good(func(m map[string]any) { m["endpoint"] = "https://u:p@push.example/x" }),
		"no keys":        good(func(m map[string]any) { delete(m, "keys") }),
		"p256dh not b64": good(func(m map[string]any) { keys(m)["p256dh"] = "!!!" }),
		"p256dh off": good(func(m map[string]any) {
			keys(m)["p256dh"] = base64.RawURLEncoding.EncodeToString(append([]byte{4}, make([]byte, 64)...))
		}),
		"auth too short":  good(func(m map[string]any) { keys(m)["auth"] = "AAAA" }),
		"auth not base64": good(func(m map[string]any) { keys(m)["auth"] = "*" }),
	}
	for name, token := range tests {
		t.Run(name, func(t *testing.T) {
			err := f.client.Send(context.Background(), &offlinepush.Notification{Token: token, Title: "t"})
			if k := offlinepush.KindOf(err); k != offlinepush.KindTokenInvalid {
				t.Errorf("Send = %v (%v), want token_invalid", err, k)
			}
		})
	}
	if n := len(f.service.pushes()); n != 0 {
		t.Errorf("%d bad tokens reached the push service", n)
	}

	// Browsers' keys are unpadded base64url; padded ones work too.
	var m map[string]any
	json.Unmarshal([]byte(f.token), &m)
	keys(m)["auth"] = base64.URLEncoding.EncodeToString(f.browser.auth)
	b, _ := json.Marshal(m)
	if err := f.client.Send(context.Background(), &offlinepush.Notification{Token: string(b), Title: "t"}); err != nil {
		t.Errorf("padded auth key: %v", err)
	}
}

func TestVAPIDTokenReusedThenRenewed(t *testing.T) {
	f := setup(t)
	send := func() {
		t.Helper()
		if err := f.client.Send(context.Background(), &offlinepush.Notification{Token: f.token, Title: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); send() }()
	}
	wg.Wait()
	f.clock.Add(5 * time.Hour)
	send()
	got := f.service.pushes()
	for i, p := range got {
		if p.JWT != got[0].JWT {
			t.Fatalf("push %d carried a different JWT within its reuse time", i)
		}
	}

	f.clock.Add(2 * time.Hour) // 7 h after signing: past half its life
	send()
	got = f.service.pushes()
	last := got[len(got)-1]
	if last.JWT == got[0].JWT {
		t.Fatal("JWT not renewed after half its lifetime")
	}
	if want := f.clock.Now().Add(12 * time.Hour).Unix(); last.Claims.Exp != want {
		t.Errorf("renewed exp %d, want %d", last.Claims.Exp, want)
	}
}

func TestNewValidates(t *testing.T) {
	pub, priv, err := GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _, _ := GenerateVAPIDKeys()
	ok := Config{VAPIDPublicKey: pub, VAPIDPrivateKey: priv, Subscriber: "https://loft.example/contact"}
	if _, err := New(ok); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"no private key", func(c *Config) { c.VAPIDPrivateKey = "" }, "VAPIDPrivateKey is required"},
		{"no public key", func(c *Config) { c.VAPIDPublicKey = "" }, "VAPIDPublicKey is required"},
		{"not a key pair", func(c *Config) { c.VAPIDPublicKey = otherPub }, "not the public key"},
		{"private key garbage", func(c *Config) { c.VAPIDPrivateKey = "AAAA" }, "not a P-256 private key"},
		{"no subscriber", func(c *Config) { c.Subscriber = "" }, "Subscriber is required"},
		{"subscriber not a contact", func(c *Config) { c.Subscriber = "http://loft.example" }, "neither"},
		{"MaxBody too big", func(c *Config) { c.MaxBody = 5000 }, "MaxBody"},
		{"MaxBody too small", func(c *Config) { c.MaxBody = 100 }, "MaxBody"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mut(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestGenerateVAPIDKeys(t *testing.T) {
	pub, priv, err := GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	p, err := base64.RawURLEncoding.DecodeString(pub)
	if err != nil || len(p) != 65 || p[0] != 4 {
		t.Errorf("public key %q: %d bytes, %v; want a 65-byte uncompressed point", pub, len(p), err)
	}
	k, err := base64.RawURLEncoding.DecodeString(priv)
	if err != nil || len(k) != 32 {
		t.Errorf("private key: %d bytes, %v; want 32", len(k), err)
	}
	pub2, _, _ := GenerateVAPIDKeys()
	if pub2 == pub {
		t.Error("two calls made the same key")
	}
}

func TestName(t *testing.T) {
	f := setup(t)
	if got := f.client.Name(); got != "webpush" {
		t.Errorf("Name() = %q", got)
	}
}
