package apns

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/loftchat/loft/offlinepush"
)

const (
	testKeyID  = "ABC123DEFG"
	testTeamID = "DEF123GHIJ"
	testTopic  = "chat.loft.app"
	testToken  = "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newKey(tb testing.TB) (*ecdsa.PrivateKey, []byte) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// setup returns a Client pointed at a fresh fake APNs, both on clk.
func setup(tb testing.TB) (*Client, *fakeAPNs, *clock) {
	tb.Helper()
	clk := newClock()
	key, p8 := newKey(tb)
	f := newFakeAPNs(tb, &key.PublicKey, clk.Now)
	c, err := New(Config{
		KeyP8: p8, KeyID: testKeyID, TeamID: testTeamID, Topic: testTopic,
		BaseURL: f.srv.URL, HTTPClient: f.client(), Now: clk.Now,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c, f, clk
}

func intp(i int) *int { return &i }

func loftData() map[string]string {
	return map[string]string{"conv": "c42", "seq": "7", "msg_id": "123456789"}
}

func mustSend(tb testing.TB, c *Client, n *offlinepush.Notification) {
	tb.Helper()
	if err := c.Send(context.Background(), n); err != nil {
		tb.Fatalf("Send: %v", err)
	}
}

func onlyRequest(tb testing.TB, f *fakeAPNs) fakeRequest {
	tb.Helper()
	reqs := f.requests()
	if len(reqs) != 1 {
		tb.Fatalf("fake got %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

func TestSendAlert(t *testing.T) {
	c, f, clk := setup(t)
	mustSend(t, c, &offlinepush.Notification{
		Token: testToken, Platform: "ios",
		Title: "Ada", Body: "see you <at> 5 & bring cake", Data: loftData(),
		Badge: intp(3), CollapseKey: "conv:c42", TTL: time.Hour, High: true,
	})
	r := onlyRequest(t, f)
	if r.Token != testToken {
		t.Errorf("token in path %q, want %q", r.Token, testToken)
	}
	headers := map[string]string{
		"apns-push-type":   "alert",
		"apns-priority":    "10",
		"apns-topic":       testTopic,
		"apns-collapse-id": "conv:c42",
		"apns-expiration":  strconv.FormatInt(clk.Now().Add(time.Hour).Unix(), 10),
	}
	for k, want := range headers {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	a := r.Aps
	if a.Alert == nil || a.Alert.Title != "Ada" || a.Alert.Body != "see you <at> 5 & bring cake" {
		t.Errorf("alert = %+v", a.Alert)
	}
	if a.Badge == nil || *a.Badge != 3 {
		t.Errorf("badge = %v, want 3", a.Badge)
	}
	if a.Sound == nil || *a.Sound != "default" {
		t.Errorf("sound = %v, want default", a.Sound)
	}
	if a.ThreadID == nil || *a.ThreadID != "conv:c42" {
		t.Errorf("thread-id = %v, want conv:c42", a.ThreadID)
	}
	if a.ContentAvailable != nil {
		t.Errorf("content-available = %d on an alert", *a.ContentAvailable)
	}
	for k, v := range loftData() {
		if r.Data[k] != v {
			t.Errorf("data %s = %q, want %q", k, r.Data[k], v)
		}
	}
}

func TestSendAlertDefaults(t *testing.T) {
	c, f, _ := setup(t)
	mustSend(t, c, &offlinepush.Notification{Token: testToken, Body: "hi", Sound: "ping.caf", Data: loftData()})
	r := onlyRequest(t, f)
	for _, k := range []string{"apns-expiration", "apns-collapse-id"} {
		if v := r.Header.Get(k); v != "" {
			t.Errorf("%s = %q, want none", k, v)
		}
	}
	if got := r.Header.Get("apns-priority"); got != "5" {
		t.Errorf("apns-priority = %q for a push that is not High, want 5", got)
	}
	if r.Aps.Sound == nil || *r.Aps.Sound != "ping.caf" {
		t.Errorf("sound = %v, want ping.caf", r.Aps.Sound)
	}
	if r.Aps.Badge != nil || r.Aps.ThreadID != nil {
		t.Errorf("badge %v thread-id %v, want neither", r.Aps.Badge, r.Aps.ThreadID)
	}
}

func TestSendSilent(t *testing.T) {
	for _, n := range []*offlinepush.Notification{
		{Title: "Ada", Body: "hello", Silent: true, High: true, Badge: intp(2), CollapseKey: "conv:c42"},
		{Badge: intp(2)}, // no title or body: a wake-up
	} {
		c, f, _ := setup(t)
		n.Token, n.Data = testToken, loftData()
		mustSend(t, c, n)
		r := onlyRequest(t, f)
		if got := r.Header.Get("apns-push-type"); got != "background" {
			t.Errorf("apns-push-type = %q, want background", got)
		}
		if got := r.Header.Get("apns-priority"); got != "5" {
			t.Errorf("apns-priority = %q, want 5", got)
		}
		if r.Aps.ContentAvailable == nil || *r.Aps.ContentAvailable != 1 {
			t.Errorf("content-available = %v, want 1", r.Aps.ContentAvailable)
		}
		if r.Aps.Alert != nil || r.Aps.Sound != nil || r.Aps.Badge != nil {
			t.Errorf("background aps = %s", r.Body)
		}
		if r.Data["msg_id"] != "123456789" {
			t.Errorf("data = %v", r.Data)
		}
	}
}

func TestPayloadLimit(t *testing.T) {
	long := strings.Repeat("é<🙂\"\n&", 10<<10/10) // 10 KB, multi-byte and escaped characters
	tests := []struct {
		name        string
		title, body string
	}{
		{"long body", "Ada", long},
		{"long title", long, "hello"},
		{"both long", long, long},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f, _ := setup(t)
			mustSend(t, c, &offlinepush.Notification{Token: testToken, Title: tt.title, Body: tt.body, Data: loftData(), Badge: intp(1)})
			r := onlyRequest(t, f)
			if len(r.Body) > MaxPayload {
				t.Fatalf("payload %d bytes > %d", len(r.Body), MaxPayload)
			}
			if len(r.Body) < MaxPayload-64 {
				t.Errorf("payload %d bytes: cut far more than needed", len(r.Body))
			}
			al := r.Aps.Alert
			for _, s := range []string{al.Title, al.Body} {
				if !utf8.ValidString(s) {
					t.Errorf("cut text is not UTF-8: %q", s)
				}
			}
			if len(tt.body) > MaxPayload && !strings.HasSuffix(al.Body, "…") {
				t.Errorf("body not cut with an ellipsis: …%q", al.Body[max(0, len(al.Body)-20):])
			}
			if len(tt.title) > MaxPayload && len(tt.body) > MaxPayload && (len(al.Title) < 1500 || len(al.Body) < 1500) {
				t.Errorf("both long: title cut to %d bytes, body to %d: want them shared", len(al.Title), len(al.Body))
			}
			if len(tt.title) < MaxPayload && al.Title != tt.title {
				t.Errorf("short title %q cut to %q", tt.title, al.Title)
			}
			if r.Data["conv"] != "c42" || r.Data["seq"] != "7" || r.Data["msg_id"] != "123456789" {
				t.Errorf("data = %v", r.Data)
			}
		})
	}
}

func TestPayloadDataTooLarge(t *testing.T) {
	c, f, _ := setup(t)
	err := c.Send(context.Background(), &offlinepush.Notification{
		Token: testToken, Title: "Ada", Body: "hi",
		Data: map[string]string{"blob": strings.Repeat("x", 5000)},
	})
	if k := offlinepush.KindOf(err); k != offlinepush.KindPayload {
		t.Fatalf("Send = %v (%v), want payload", err, k)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("fake got %d requests for a payload that cannot fit", n)
	}
}

func TestCollapseIDLimit(t *testing.T) {
	c, f, _ := setup(t)
	key := "conv:" + strings.Repeat("x", 100)
	mustSend(t, c, &offlinepush.Notification{Token: testToken, Body: "a", CollapseKey: key})
	mustSend(t, c, &offlinepush.Notification{Token: testToken, Body: "b", CollapseKey: key})
	reqs := f.requests()
	id := reqs[0].Header.Get("apns-collapse-id")
	if len(id) == 0 || len(id) > 64 {
		t.Fatalf("apns-collapse-id %q: %d bytes", id, len(id))
	}
	if again := reqs[1].Header.Get("apns-collapse-id"); again != id {
		t.Errorf("same key gave collapse ids %q and %q", id, again)
	}
}

func TestProviderTokenCached(t *testing.T) {
	c, f, clk := setup(t)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := c.Send(context.Background(), &offlinepush.Notification{Token: testToken, Body: "hi"}); err != nil {
				t.Errorf("Send: %v", err)
			}
		})
	}
	wg.Wait()
	if n := f.distinctJWTs(); n != 1 {
		t.Fatalf("%d provider tokens for 20 sends, want 1", n)
	}
	clk.Advance(49 * time.Minute)
	mustSend(t, c, &offlinepush.Notification{Token: testToken, Body: "hi"})
	if n := f.distinctJWTs(); n != 1 {
		t.Fatalf("%d provider tokens after 49 minutes, want 1", n)
	}
	clk.Advance(2 * time.Minute)
	mustSend(t, c, &offlinepush.Notification{Token: testToken, Body: "hi"})
	mustSend(t, c, &offlinepush.Notification{Token: testToken, Body: "hi"})
	if n := f.distinctJWTs(); n != 2 {
		t.Fatalf("%d provider tokens after 51 minutes, want 2", n)
	}
}

func TestExpiredProviderToken(t *testing.T) {
	t.Run("refreshed once", func(t *testing.T) {
		c, f, clk := setup(t)
		mustSend(t, c, &offlinepush.Notification{Token: testToken, Body: "first"})
		first := onlyRequest(t, f).JWT
		clk.Advance(30 * time.Minute)
		f.expire(first) // APNs' clock runs ahead of ours
		mustSend(t, c, &offlinepush.Notification{Token: testToken, Body: "second"})
		reqs := f.requests()
		if len(reqs) != 2 || reqs[1].JWT == first || reqs[1].Aps.Alert.Body != "second" {
			t.Fatalf("requests after refresh: %d, want the second push with a new token", len(reqs))
		}
		mustSend(t, c, &offlinepush.Notification{Token: testToken, Body: "third"})
		if n := f.distinctJWTs(); n != 2 {
			t.Errorf("%d provider tokens, want 2: the refreshed one is reused", n)
		}
	})
	t.Run("still expired", func(t *testing.T) {
		c, f, clk := setup(t)
		clk.Advance(30 * time.Minute)
		f.setAnswer(func(fakeRequest) (int, string, http.Header) {
			return http.StatusForbidden, "ExpiredProviderToken", nil
		})
		err := c.Send(context.Background(), &offlinepush.Notification{Token: testToken, Body: "hi"})
		wantError(t, err, offlinepush.KindAuth, http.StatusForbidden, "ExpiredProviderToken")
		if n := f.distinctJWTs(); n != 1 {
			t.Errorf("%d provider tokens, want 1: a token younger than 20 minutes is not replaced", n)
		}
	})
	t.Run("refresh at most once", func(t *testing.T) {
		c, f, clk := setup(t)
		mustSend(t, c, &offlinepush.Notification{Token: testToken, Body: "first"})
		clk.Advance(30 * time.Minute)
		f.setAnswer(func(fakeRequest) (int, string, http.Header) {
			return http.StatusForbidden, "ExpiredProviderToken", nil
		})
		err := c.Send(context.Background(), &offlinepush.Notification{Token: testToken, Body: "hi"})
		wantError(t, err, offlinepush.KindAuth, http.StatusForbidden, "ExpiredProviderToken")
		if n := f.distinctJWTs(); n != 2 {
			t.Errorf("%d provider tokens, want 2", n)
		}
		if n := len(f.requests()); n != 3 {
			t.Errorf("%d requests, want 3: the first push, then one send and one resend", n)
		}
	})
}

func wantError(tb testing.TB, err error, kind offlinepush.ErrorKind, status int, code string) *offlinepush.Error {
	tb.Helper()
	var e *offlinepush.Error
	if !errors.As(err, &e) {
		tb.Fatalf("Send = %v, want *offlinepush.Error", err)
	}
	if e.Vendor != "apns" || e.Kind != kind || e.Status != status || e.Code != code {
		tb.Fatalf("Send = %v, want kind %v, status %d, code %q", err, kind, status, code)
	}
	return e
}

func TestErrors(t *testing.T) {
	tests := []struct {
		status     int
		reason     string
		retryAfter string
		kind       offlinepush.ErrorKind
		wantAfter  time.Duration
	}{
		{400, "BadDeviceToken", "", offlinepush.KindTokenInvalid, 0},
		{400, "DeviceTokenNotForTopic", "", offlinepush.KindTokenInvalid, 0},
		{410, "Unregistered", "", offlinepush.KindTokenInvalid, 0},
		{410, "ExpiredToken", "", offlinepush.KindTokenInvalid, 0},
		{410, "", "", offlinepush.KindTokenInvalid, 0},
		{413, "PayloadTooLarge", "", offlinepush.KindPayload, 0},
		{400, "BadPayload", "", offlinepush.KindPayload, 0},
		{400, "PayloadEmpty", "", offlinepush.KindPayload, 0},
		{400, "BadCollapseId", "", offlinepush.KindPayload, 0},
		{400, "InvalidPushType", "", offlinepush.KindPayload, 0},
		{403, "InvalidProviderToken", "", offlinepush.KindAuth, 0},
		{403, "MissingProviderToken", "", offlinepush.KindAuth, 0},
		{403, "BadCertificate", "", offlinepush.KindAuth, 0},
		{403, "BadCertificateEnvironment", "", offlinepush.KindAuth, 0},
		{403, "Forbidden", "", offlinepush.KindAuth, 0},
		{400, "BadTopic", "", offlinepush.KindAuth, 0},
		{400, "TopicDisallowed", "", offlinepush.KindAuth, 0},
		{404, "BadPath", "", offlinepush.KindAuth, 0},
		{405, "MethodNotAllowed", "", offlinepush.KindAuth, 0},
		{429, "TooManyProviderTokenUpdates", "", offlinepush.KindRetry, 0},
		{429, "TooManyRequests", "30", offlinepush.KindRetry, 30 * time.Second},
		{500, "InternalServerError", "", offlinepush.KindRetry, 0},
		{503, "ServiceUnavailable", "120", offlinepush.KindRetry, 2 * time.Minute},
		{503, "Shutdown", "", offlinepush.KindRetry, 0},
		{502, "", "", offlinepush.KindRetry, 0},
		{400, "IdleTimeout", "", offlinepush.KindRetry, 0},
	}
	c, f, _ := setup(t)
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status)+"/"+tt.reason, func(t *testing.T) {
			f.setAnswer(func(fakeRequest) (int, string, http.Header) {
				h := http.Header{}
				if tt.retryAfter != "" {
					h.Set("Retry-After", tt.retryAfter)
				}
				return tt.status, tt.reason, h
			})
			err := c.Send(context.Background(), &offlinepush.Notification{Token: testToken, Body: "hi"})
			e := wantError(t, err, tt.kind, tt.status, tt.reason)
			if e.RetryAfter != tt.wantAfter {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tt.wantAfter)
			}
			if tt.reason == "Unregistered" && (e.Err == nil || !strings.Contains(e.Err.Error(), "inactive since")) {
				t.Errorf("Err = %v, want the 410 timestamp", e.Err)
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, p8 := newKey(t)
		c, err := New(Config{KeyP8: p8, KeyID: testKeyID, TeamID: testTeamID, Topic: testTopic, BaseURL: "https://" + addr})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Send(context.Background(), &offlinepush.Notification{Token: testToken, Body: "hi"})
		if k := offlinepush.KindOf(err); k != offlinepush.KindRetry || !errors.As(err, new(*offlinepush.Error)) {
			t.Fatalf("Send = %v, want a retry *Error", err)
		}
	})
	t.Run("context canceled", func(t *testing.T) {
		c, _, _ := setup(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := c.Send(ctx, &offlinepush.Notification{Token: testToken, Body: "hi"})
		if k := offlinepush.KindOf(err); k != offlinepush.KindRetry || !errors.Is(err, context.Canceled) {
			t.Fatalf("Send = %v, want retry wrapping context.Canceled", err)
		}
	})
	t.Run("no token", func(t *testing.T) {
		c, f, _ := setup(t)
		err := c.Send(context.Background(), &offlinepush.Notification{Body: "hi"})
		if k := offlinepush.KindOf(err); k != offlinepush.KindTokenInvalid {
			t.Fatalf("Send = %v, want token invalid", err)
		}
		if n := len(f.requests()); n != 0 {
			t.Errorf("%d requests for an empty token", n)
		}
	})
}

func TestNew(t *testing.T) {
	_, p8 := newKey(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER})
	good := Config{KeyP8: p8, KeyID: testKeyID, TeamID: testTeamID, Topic: testTopic}
	tests := []struct {
		name   string
		edit   func(*Config)
		errHas string
	}{
		{"no key", func(c *Config) { c.KeyP8 = nil }, "KeyP8 is required"},
		{"no key id", func(c *Config) { c.KeyID = "" }, "KeyID is required"},
		{"no team id", func(c *Config) { c.TeamID = "" }, "TeamID is required"},
		{"no topic", func(c *Config) { c.Topic = "" }, "Topic"},
		{"not PEM", func(c *Config) { c.KeyP8 = []byte("MIGTAgEAMBMGByqGSM49") }, "not PEM"},
		{"RSA key", func(c *Config) { c.KeyP8 = rsaPEM }, "P-256"},
		{"bad URL", func(c *Config) { c.BaseURL = "api.push.apple.com" }, "BaseURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("New = %v, want an error about %q", err, tt.errHas)
			}
		})
	}

	c, err := New(good)
	if err != nil {
		t.Fatal(err)
	}
	if c.baseURL != ProductionURL || c.Name() != "apns" || c.hc == nil || c.hc.Timeout == 0 {
		t.Errorf("defaults: baseURL %q name %q client %v", c.baseURL, c.Name(), c.hc)
	}
	good.Development = true
	if c, err = New(good); err != nil || c.baseURL != DevelopmentURL {
		t.Errorf("Development: baseURL %q, err %v", c.baseURL, err)
	}
}

// TestDefaultClientHTTP2 checks that the default client reaches an HTTP/2
// server over TLS and refuses to fall back to HTTP/1.1.
func TestDefaultClientHTTP2(t *testing.T) {
	for _, h2 := range []bool{true, false} {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("x-proto", r.Proto)
		}))
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused HTTP/1.1 handshake
		srv.EnableHTTP2 = h2
		srv.StartTLS()
		hc := defaultHTTPClient()
		hc.Transport.(*http.Transport).TLSClientConfig.RootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
		resp, err := hc.Get(srv.URL)
		if h2 {
			if err != nil || resp.ProtoMajor != 2 {
				t.Errorf("HTTP/2 server: %v %v", resp, err)
			}
		} else if err == nil {
			t.Errorf("HTTP/1.1-only server: got %s, want an error", resp.Proto)
		}
		if resp != nil {
			resp.Body.Close()
		}
		hc.CloseIdleConnections()
		srv.Close()
	}
}

func TestGoldenPayloads(t *testing.T) {
	now := newClock().Now()
	tests := []struct {
		file string
		n    *offlinepush.Notification
	}{
		{"alert.json", &offlinepush.Notification{
			Title: "Ada", Body: "see you <at> 5", Data: loftData(), Badge: intp(3), CollapseKey: "conv:c42", High: true,
		}},
		{"background.json", &offlinepush.Notification{Data: loftData(), Badge: intp(3), CollapseKey: "conv:c42"}},
	}
	for _, tt := range tests {
		r, err := render(tt.n, now)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(r.payload); got != strings.TrimSpace(string(want)) {
			t.Errorf("%s:\n got %s\nwant %s", tt.file, got, want)
		}
	}
}

// TestProviderTokenRefreshRace checks that Sends that all saw the same
// token expire make one new token between them, not one each, which APNs
// would answer with TooManyProviderTokenUpdates.
func TestProviderTokenRefreshRace(t *testing.T) {
	key, _ := newKey(t)
	clk := newClock()
	p := &providerToken{key: key, keyID: testKeyID, teamID: testTeamID, now: clk.Now}
	stale, err := p.get()
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Minute)
	got := make([]string, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			jwt, ok, err := p.refresh(stale)
			if err != nil || !ok {
				t.Errorf("refresh: %v %v", ok, err)
			}
			got[i] = jwt
		})
	}
	wg.Wait()
	for _, jwt := range got {
		if jwt == stale || jwt != got[0] {
			t.Fatalf("concurrent refreshes returned different or stale tokens, want one new token for all")
		}
	}
	if now, _ := p.get(); now != got[0] {
		t.Errorf("get after refresh returned another token")
	}
}
