package fcm

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
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

const testDevice = "dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx"

// testKey is the service account's key, made once: RSA keys are slow to
// generate under -race.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// credentialsJSON is a service account key file as the Firebase console
// gives it, with token_uri pointing at tokenURI.
func credentialsJSON(tb testing.TB, tokenURI string) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(testKey())
	if err != nil {
		tb.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     testProject,
		"private_key_id": testKeyID,
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   testEmail,
		"client_id":      "109876543210987654321",
		"auth_uri":       "https://accounts.google.com/o/oauth2/auth",
		"token_uri":      tokenURI,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

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

// setup returns a Client pointed at a fresh fake FCM, both on clk; edit
// may change the Config first.
func setup(tb testing.TB, edit ...func(*Config)) (*Client, *fakeFCM, *clock) {
	tb.Helper()
	clk := newClock()
	f := newFakeFCM(tb, &testKey().PublicKey, clk.Now)
	cfg := Config{
		CredentialsJSON: credentialsJSON(tb, f.tokenURL()),
		BaseURL:         f.srv.URL,
		HTTPClient:      &http.Client{Timeout: 10 * time.Second},
		Now:             clk.Now,
	}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := New(cfg)
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

func onlySend(tb testing.TB, f *fakeFCM) fakeSend {
	tb.Helper()
	s := f.sent()
	if len(s) != 1 {
		tb.Fatalf("fake got %d sends, want 1", len(s))
	}
	return s[0]
}

func TestSendNotification(t *testing.T) {
	c, f, clk := setup(t)
	mustSend(t, c, &offlinepush.Notification{
		Token: testDevice, Title: "Ada", Body: "see you <at> 5 & bring cake", Data: loftData(),
		Badge: intp(3), CollapseKey: "conv:c42", TTL: time.Hour, High: true,
	})
	s := onlySend(t, f)
	m := s.Msg
	if m.Token != testDevice {
		t.Errorf("token %q", m.Token)
	}
	if m.Notification == nil || m.Notification.Title != "Ada" || m.Notification.Body != "see you <at> 5 & bring cake" {
		t.Errorf("notification = %+v", m.Notification)
	}
	for k, v := range loftData() {
		if m.Data[k] != v {
			t.Errorf("data %s = %q, want %q", k, m.Data[k], v)
		}
	}

	a := m.Android
	if a == nil || a.CollapseKey != "conv:c42" || a.Priority != "high" || a.TTL != "3600s" {
		t.Fatalf("android = %+v", a)
	}
	if an := a.Notification; an == nil || an.Tag != "conv:c42" || an.Sound != "default" || an.NotificationCount == nil || *an.NotificationCount != 3 {
		t.Errorf("android.notification = %+v", an)
	}

	if m.APNS == nil {
		t.Fatal("no apns block")
	}
	headers := map[string]string{
		"apns-collapse-id": "conv:c42",
		"apns-priority":    "10",
		"apns-push-type":   "alert",
		"apns-expiration":  strconv.FormatInt(clk.Now().Add(time.Hour).Unix(), 10),
	}
	for k, want := range headers {
		if got := m.APNS.Headers[k]; got != want {
			t.Errorf("apns header %s = %q, want %q", k, got, want)
		}
	}
	aps := s.Aps
	if aps.Badge == nil || *aps.Badge != 3 || aps.ThreadID == nil || *aps.ThreadID != "conv:c42" ||
		aps.Sound == nil || *aps.Sound != "default" || aps.ContentAvailable != nil {
		t.Errorf("aps = %s", m.APNS.Payload)
	}
}

func TestSendDefaults(t *testing.T) {
	c, f, _ := setup(t)
	mustSend(t, c, &offlinepush.Notification{Token: testDevice, Body: "hi", Sound: "ping"})
	m := onlySend(t, f).Msg
	if m.Android.Priority != "normal" || m.Android.TTL != "" || m.Android.CollapseKey != "" {
		t.Errorf("android = %+v, want normal priority, no ttl or collapse key", m.Android)
	}
	if m.Android.Notification.Sound != "ping" {
		t.Errorf("android sound %q, want ping", m.Android.Notification.Sound)
	}
	for _, k := range []string{"apns-expiration", "apns-collapse-id"} {
		if v, ok := m.APNS.Headers[k]; ok {
			t.Errorf("apns header %s = %q, want none", k, v)
		}
	}
	if m.APNS.Headers["apns-priority"] != "5" {
		t.Errorf("apns-priority %q for a push that is not High, want 5", m.APNS.Headers["apns-priority"])
	}
}

func TestPlatforms(t *testing.T) {
	tests := []struct {
		platform      string
		android, apns bool
	}{
		{"android", true, false},
		{"ios", false, true},
		{"iOS", false, true},
		{"", true, true},
		{"web", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.platform, func(t *testing.T) {
			c, f, _ := setup(t)
			mustSend(t, c, &offlinepush.Notification{Token: testDevice, Platform: tt.platform, Body: "hi"})
			m := onlySend(t, f).Msg
			if (m.Android != nil) != tt.android || (m.APNS != nil) != tt.apns {
				t.Errorf("android block %v, apns block %v; want %v, %v", m.Android != nil, m.APNS != nil, tt.android, tt.apns)
			}
		})
	}
}

func TestSendSilent(t *testing.T) {
	for _, n := range []*offlinepush.Notification{
		{Title: "Ada", Body: "hello", Silent: true, Badge: intp(2), CollapseKey: "conv:c42", High: true},
		{Badge: intp(2)}, // no title or body: a wake-up
	} {
		c, f, _ := setup(t)
		n.Token, n.Data = testDevice, loftData()
		mustSend(t, c, n)
		s := onlySend(t, f)
		m := s.Msg
		if m.Notification != nil || m.Android.Notification != nil {
			t.Errorf("silent push has a notification: %s", s.Raw)
		}
		if m.Data["msg_id"] != "123456789" {
			t.Errorf("data = %v", m.Data)
		}
		if want := map[bool]string{true: "high", false: "normal"}[n.High]; m.Android.Priority != want {
			t.Errorf("android priority %q, want %q", m.Android.Priority, want)
		}
		if m.APNS.Headers["apns-push-type"] != "background" || m.APNS.Headers["apns-priority"] != "5" {
			t.Errorf("apns headers %v", m.APNS.Headers)
		}
		if s.Aps.ContentAvailable == nil || *s.Aps.ContentAvailable != 1 || s.Aps.Badge != nil || s.Aps.Alert != nil || s.Aps.Sound != nil {
			t.Errorf("aps %s", m.APNS.Payload)
		}
	}
}

func TestTTLLimit(t *testing.T) {
	c, f, clk := setup(t)
	mustSend(t, c, &offlinepush.Notification{Token: testDevice, Body: "hi", TTL: 60 * 24 * time.Hour})
	m := onlySend(t, f).Msg
	if m.Android.TTL != "2419200s" {
		t.Errorf("android ttl %q, want 4 weeks", m.Android.TTL)
	}
	if want := strconv.FormatInt(clk.Now().Add(28*24*time.Hour).Unix(), 10); m.APNS.Headers["apns-expiration"] != want {
		t.Errorf("apns-expiration %q, want %q", m.APNS.Headers["apns-expiration"], want)
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
			mustSend(t, c, &offlinepush.Notification{
				Token: testDevice, Title: tt.title, Body: tt.body, Data: loftData(), Badge: intp(1), CollapseKey: "conv:c42",
			})
			s := onlySend(t, f) // the fake refuses a message over MaxPayload
			if len(s.Raw) < MaxPayload-64 {
				t.Errorf("message %d bytes: cut far more than needed", len(s.Raw))
			}
			n := s.Msg.Notification
			for _, v := range []string{n.Title, n.Body} {
				if !utf8.ValidString(v) {
					t.Errorf("cut text is not UTF-8: %q", v)
				}
			}
			if len(tt.body) > MaxPayload && !strings.HasSuffix(n.Body, "…") {
				t.Errorf("body not cut with an ellipsis")
			}
			if len(tt.title) > MaxPayload && len(tt.body) > MaxPayload && (len(n.Title) < 500 || len(n.Body) < 500) {
				t.Errorf("both long: title cut to %d bytes, body to %d: want them shared", len(n.Title), len(n.Body))
			}
			if len(tt.title) < MaxPayload && n.Title != tt.title {
				t.Errorf("short title %q cut to %q", tt.title, n.Title)
			}
			if len(s.Msg.Data) != 3 || s.Msg.Data["msg_id"] != "123456789" {
				t.Errorf("data = %v", s.Msg.Data)
			}
		})
	}
}

func TestPayloadDataTooLarge(t *testing.T) {
	c, f, _ := setup(t)
	err := c.Send(context.Background(), &offlinepush.Notification{
		Token: testDevice, Title: "Ada", Body: "hi", Data: map[string]string{"blob": strings.Repeat("x", 5000)},
	})
	if k := offlinepush.KindOf(err); k != offlinepush.KindPayload {
		t.Fatalf("Send = %v (%v), want payload", err, k)
	}
	if tokens, sends := f.counts(); tokens != 0 || sends != 0 {
		t.Errorf("%d token calls and %d sends for a payload that cannot fit", tokens, sends)
	}
}

func TestAccessTokenCached(t *testing.T) {
	c, f, clk := setup(t)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := c.Send(context.Background(), &offlinepush.Notification{Token: testDevice, Body: "hi"}); err != nil {
				t.Errorf("Send: %v", err)
			}
		})
	}
	wg.Wait()
	if tokens, sends := f.counts(); tokens != 1 || sends != 20 {
		t.Fatalf("%d token calls for %d sends, want 1 for 20", tokens, sends)
	}
	clk.Advance(57 * time.Minute)
	mustSend(t, c, &offlinepush.Notification{Token: testDevice, Body: "hi"})
	if tokens, _ := f.counts(); tokens != 1 {
		t.Fatalf("%d token calls after 57 minutes, want 1", tokens)
	}
	clk.Advance(2 * time.Minute) // within a minute of the token's expiry
	mustSend(t, c, &offlinepush.Notification{Token: testDevice, Body: "hi"})
	mustSend(t, c, &offlinepush.Notification{Token: testDevice, Body: "hi"})
	if tokens, _ := f.counts(); tokens != 2 {
		t.Fatalf("%d token calls after 59 minutes, want 2", tokens)
	}
	s := f.sent()
	if s[len(s)-1].AccessToken == s[0].AccessToken {
		t.Errorf("still sending the first access token")
	}
}

func TestAccessTokenRejected(t *testing.T) {
	t.Run("refreshed", func(t *testing.T) {
		c, f, _ := setup(t)
		mustSend(t, c, &offlinepush.Notification{Token: testDevice, Body: "first"})
		f.revoke(onlySend(t, f).AccessToken)
		mustSend(t, c, &offlinepush.Notification{Token: testDevice, Body: "second"})
		s := f.sent()
		if tokens, _ := f.counts(); tokens != 2 || len(s) != 2 || s[1].AccessToken == s[0].AccessToken || s[1].Msg.Notification.Body != "second" {
			t.Fatalf("%d token calls, %d sends: want a new token and the push sent with it", tokens, len(s))
		}
	})
	t.Run("still rejected", func(t *testing.T) {
		c, f, _ := setup(t)
		f.setAnswer(func(fakeSend) (int, string, http.Header) {
			return 401, apiErrorBody(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", ""), nil
		})
		err := c.Send(context.Background(), &offlinepush.Notification{Token: testDevice, Body: "hi"})
		wantError(t, err, offlinepush.KindAuth, 401, "UNAUTHENTICATED")
		if tokens, sends := f.counts(); tokens != 2 || sends != 2 {
			t.Errorf("%d token calls, %d sends; want one refresh and one resend", tokens, sends)
		}
	})
	t.Run("third party auth", func(t *testing.T) {
		c, f, _ := setup(t)
		f.setAnswer(func(fakeSend) (int, string, http.Header) {
			return 401, apiErrorBody(401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR"), nil
		})
		err := c.Send(context.Background(), &offlinepush.Notification{Token: testDevice, Body: "hi"})
		wantError(t, err, offlinepush.KindAuth, 401, "THIRD_PARTY_AUTH_ERROR")
		if tokens, sends := f.counts(); tokens != 1 || sends != 1 {
			t.Errorf("%d token calls, %d sends; the access token was fine", tokens, sends)
		}
	})
}

func wantError(tb testing.TB, err error, kind offlinepush.ErrorKind, status int, code string) *offlinepush.Error {
	tb.Helper()
	var e *offlinepush.Error
	if !errors.As(err, &e) {
		tb.Fatalf("Send = %v, want *offlinepush.Error", err)
	}
	if e.Vendor != "fcm" || e.Kind != kind || e.Status != status || e.Code != code {
		tb.Fatalf("Send = %v, want kind %v, status %d, code %q", err, kind, status, code)
	}
	return e
}

func TestErrors(t *testing.T) {
	badValue := `{"error":{"code":400,"message":"Invalid value at 'message.data[0].value' (TYPE_STRING), 12",` +
		`"status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest",` +
		`"fieldViolations":[{"field":"message.data[0].value","description":"Invalid value"}]}]}}`
	tests := []struct {
		name       string
		status     int
		body       string
		retryAfter string
		kind       offlinepush.ErrorKind
		code       string
		wantAfter  time.Duration
	}{
		{"unregistered", 404, apiErrorBody(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"),
			"", offlinepush.KindTokenInvalid, "UNREGISTERED", 0},
		{"sender id mismatch", 403, apiErrorBody(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"),
			"", offlinepush.KindTokenInvalid, "SENDER_ID_MISMATCH", 0},
		{"bad token", 400, apiErrorBody(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token", "INVALID_ARGUMENT"),
			"", offlinepush.KindTokenInvalid, "INVALID_ARGUMENT", 0},
		{"bad field", 400, badValue, "", offlinepush.KindPayload, "INVALID_ARGUMENT", 0},
		{"too big", 400, apiErrorBody(400, "INVALID_ARGUMENT", "Message is too big", "INVALID_ARGUMENT"),
			"", offlinepush.KindPayload, "INVALID_ARGUMENT", 0},
		{"quota", 429, apiErrorBody(429, "RESOURCE_EXHAUSTED", "Quota exceeded", "QUOTA_EXCEEDED"),
			"60", offlinepush.KindQuota, "QUOTA_EXCEEDED", time.Minute},
		{"429 without quota code", 429, apiErrorBody(429, "RESOURCE_EXHAUSTED", "Too many requests", ""),
			"5", offlinepush.KindRetry, "RESOURCE_EXHAUSTED", 5 * time.Second},
		{"unavailable", 503, apiErrorBody(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE"),
			"30", offlinepush.KindRetry, "UNAVAILABLE", 30 * time.Second},
		{"internal", 500, apiErrorBody(500, "INTERNAL", "Internal error encountered.", "INTERNAL"),
			"", offlinepush.KindRetry, "INTERNAL", 0},
		{"bad gateway", 502, "<html>Bad Gateway</html>", "", offlinepush.KindRetry, "", 0},
		{"third party auth", 401, apiErrorBody(401, "UNAUTHENTICATED", "Auth error from APNS", "THIRD_PARTY_AUTH_ERROR"),
			"", offlinepush.KindAuth, "THIRD_PARTY_AUTH_ERROR", 0},
		{"permission denied", 403, apiErrorBody(403, "PERMISSION_DENIED", "Permission 'cloudmessaging.messages.create' denied", ""),
			"", offlinepush.KindAuth, "PERMISSION_DENIED", 0},
		{"not found", 404, apiErrorBody(404, "NOT_FOUND", "Requested entity was not found.", ""),
			"", offlinepush.KindAuth, "NOT_FOUND", 0},
	}
	c, f, _ := setup(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, before := f.counts()
			f.setAnswer(func(fakeSend) (int, string, http.Header) {
				h := http.Header{}
				if tt.retryAfter != "" {
					h.Set("Retry-After", tt.retryAfter)
				}
				return tt.status, tt.body, h
			})
			start := time.Now()
			err := c.Send(context.Background(), &offlinepush.Notification{Token: testDevice, Body: "hi"})
			e := wantError(t, err, tt.kind, tt.status, tt.code)
			if e.RetryAfter != tt.wantAfter {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tt.wantAfter)
			}
			if _, after := f.counts(); after-before != 1 {
				t.Errorf("%d requests, want 1: Send must not retry (nor let the SDK)", after-before)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Errorf("Send took %v: the SDK backed off to retry", d)
			}
		})
	}
}

func TestConnectionDropped(t *testing.T) {
	c, f, _ := setup(t)
	f.setAnswer(func(fakeSend) (int, string, http.Header) { return dropConnection, "", nil })
	start := time.Now()
	err := c.Send(context.Background(), &offlinepush.Notification{Token: testDevice, Body: "hi"})
	var e *offlinepush.Error
	if !errors.As(err, &e) || e.Kind != offlinepush.KindRetry || e.Status != 0 {
		t.Fatalf("Send = %v, want a retry *Error without a status", err)
	}
	if _, sends := f.counts(); sends != 1 {
		t.Errorf("%d requests, want 1: the SDK retries connection errors unless stopped", sends)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Send took %v: the SDK backed off to retry", d)
	}
}

func TestContextCanceled(t *testing.T) {
	c, f, _ := setup(t)
	mustSend(t, c, &offlinepush.Notification{Token: testDevice, Body: "warm the token"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Send(ctx, &offlinepush.Notification{Token: testDevice, Body: "hi"})
	if k := offlinepush.KindOf(err); k != offlinepush.KindRetry || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want retry wrapping context.Canceled", err)
	}
	if _, sends := f.counts(); sends != 1 {
		t.Errorf("%d sends, want only the first", sends)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		kind   offlinepush.ErrorKind
		code   string
	}{
		{"invalid grant", 400, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`, offlinepush.KindAuth, "invalid_grant"},
		{"invalid client", 401, `{"error":"invalid_client","error_description":"The OAuth client was not found."}`, offlinepush.KindAuth, "invalid_client"},
		{"unavailable", 503, `{"error":"temporarily_unavailable"}`, offlinepush.KindRetry, "temporarily_unavailable"},
		{"no token", 200, `{"token_type":"Bearer"}`, offlinepush.KindRetry, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f, _ := setup(t)
			f.setTokenAnswer(func() (int, string) { return tt.status, tt.body })
			err := c.Send(context.Background(), &offlinepush.Notification{Token: testDevice, Body: "hi"})
			wantError(t, err, tt.kind, tt.status, tt.code)
			if _, sends := f.counts(); sends != 0 {
				t.Errorf("%d sends without an access token", sends)
			}
		})
	}
}

func TestWrongProject(t *testing.T) {
	c, _, _ := setup(t, func(cfg *Config) { cfg.ProjectID = "someone-else" })
	err := c.Send(context.Background(), &offlinepush.Notification{Token: testDevice, Body: "hi"})
	wantError(t, err, offlinepush.KindAuth, 403, "PERMISSION_DENIED")
}

func TestAuthURL(t *testing.T) {
	// Config.AuthURL wins over the key's token_uri.
	clk := newClock()
	f := newFakeFCM(t, &testKey().PublicKey, clk.Now)
	c, err := New(Config{
		CredentialsJSON: credentialsJSON(t, "http://127.0.0.1:1/never"),
		AuthURL:         f.tokenURL(), BaseURL: f.srv.URL, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	mustSend(t, c, &offlinepush.Notification{Token: testDevice, Body: "hi"})
	if tokens, _ := f.counts(); tokens != 1 {
		t.Errorf("%d token calls at AuthURL, want 1", tokens)
	}
}

func TestNew(t *testing.T) {
	good := credentialsJSON(t, "https://oauth2.googleapis.com/token")
	edit := func(k, v string) []byte {
		var m map[string]string
		_ = json.Unmarshal(good, &m)
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name   string
		cfg    Config
		errHas string
	}{
		{"no credentials", Config{}, "CredentialsJSON"},
		{"not JSON", Config{CredentialsJSON: []byte("AIzaSy...")}, "CredentialsJSON"},
		{"user credentials", Config{CredentialsJSON: edit("type", "authorized_user")}, "service_account"},
		{"no email", Config{CredentialsJSON: edit("client_email", "")}, "client_email"},
		{"no key", Config{CredentialsJSON: edit("private_key", "")}, "private_key"},
		{"no project", Config{CredentialsJSON: edit("project_id", "")}, "ProjectID"},
		{"bad base URL", Config{CredentialsJSON: good, BaseURL: "fcm.googleapis.com"}, "BaseURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("New = %v, want an error about %q", err, tt.errHas)
			}
		})
	}

	c, err := New(Config{CredentialsJSON: edit("token_uri", "")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "fcm" || c.tokens.url != DefaultAuthURL || c.tokens.hc.Timeout == 0 {
		t.Errorf("defaults: name %q auth URL %q timeout %v", c.Name(), c.tokens.url, c.tokens.hc.Timeout)
	}
	if _, err := New(Config{CredentialsJSON: edit("project_id", ""), ProjectID: "p"}); err != nil {
		t.Errorf("ProjectID set, key without project_id: %v", err)
	}
}

func TestGoldenMessage(t *testing.T) {
	m, err := message(&offlinepush.Notification{
		Token: testDevice, Title: "Ada", Body: "see you at 5", Data: loftData(),
		Badge: intp(3), CollapseKey: "conv:c42", TTL: time.Hour, High: true,
	}, newClock().Now())
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(map[string]any{"message": m})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "message.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != strings.TrimSpace(string(want)) {
		t.Errorf("message:\n got %s\nwant %s", got, want)
	}
}

func TestNoDeviceToken(t *testing.T) {
	c, f, _ := setup(t)
	err := c.Send(context.Background(), &offlinepush.Notification{Body: "hi"})
	if k := offlinepush.KindOf(err); k != offlinepush.KindTokenInvalid {
		t.Fatalf("Send = %v, want token invalid", err)
	}
	if tokens, sends := f.counts(); tokens != 0 || sends != 0 {
		t.Errorf("%d token calls, %d sends for an empty device token", tokens, sends)
	}
}
