package honor

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/loftchat/loft/offlinepush"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func ptr[T any](v T) *T { return &v }

func chatPush() *offlinepush.Notification {
	return &offlinepush.Notification{
		Token:       "IQAAAACy0kYhAADi2wHonorToken",
		Platform:    "android",
		Title:       "Alice",
		Body:        "lunch at <noon>?",
		Data:        map[string]string{"conv": "42", "seq": "7", "msg_id": "9001"},
		Badge:       ptr(3),
		CollapseKey: "conv-42",
		Sound:       "ding",
		TTL:         time.Hour,
		High:        true,
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{ClientID: "c", ClientSecret: "s"}, "AppID"},
		{Config{AppID: "1", ClientSecret: "s"}, "ClientID"},
		{Config{AppID: "1", ClientID: "c"}, "ClientSecret"},
		{Config{AppID: "1", ClientID: "c", ClientSecret: "s", AuthURL: "iam"}, "absolute URL"},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error about %s", tt.cfg, err, tt.want)
		}
	}
	c, err := New(Config{AppID: "1", ClientID: "c", ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "honor" || c.sendURL != DefaultBaseURL+"/api/v1/1/sendMessage" || c.cfg.AuthURL != DefaultAuthURL {
		t.Errorf("defaults: name %q, send %q, auth %q", c.Name(), c.sendURL, c.cfg.AuthURL)
	}
	if c.cfg.HTTPClient == nil || c.cfg.HTTPClient.Timeout == 0 {
		t.Error("default HTTP client has no timeout")
	}
}

func TestSendNotificationFields(t *testing.T) {
	f := newFake(t)
	clk := newClock()
	c := f.client(t, clk.Now)
	n := chatPush()
	if err := c.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	b := f.lastSend()
	checks := []struct {
		path []string
		want any
	}{
		{[]string{"android", "notification", "title"}, "Alice"},
		{[]string{"android", "notification", "body"}, "lunch at <noon>?"},
		{[]string{"android", "notification", "tag"}, "conv-42"},
		{[]string{"android", "notification", "importance"}, "NORMAL"},
		{[]string{"android", "notification", "badge", "setNum"}, json.Number("3")},
		{[]string{"android", "notification", "badge", "badgeClass"}, "com.example.loft.MainActivity"},
		{[]string{"android", "ttl"}, "3600s"},
		{[]string{"notification"}, nil},
	}
	for _, ck := range checks {
		if got := path(b, ck.path...); got != ck.want {
			t.Errorf("%s = %#v, want %#v", strings.Join(ck.path, "."), got, ck.want)
		}
	}
	toks, _ := path(b, "token").([]any)
	if len(toks) != 1 || toks[0] != n.Token {
		t.Errorf("token = %v", toks)
	}
	var data map[string]string
	if err := json.Unmarshal([]byte(path(b, "data").(string)), &data); err != nil {
		t.Fatal(err)
	}
	if len(data) != 3 || data["conv"] != "42" || data["seq"] != "7" || data["msg_id"] != "9001" {
		t.Errorf("data = %v, want Loft's Data map", data)
	}
	f.mu.Lock()
	h := f.headers[0]
	f.mu.Unlock()
	if got, want := h.Get("timestamp"), "1795435200000"; got != want {
		t.Errorf("timestamp header %q, want %q (the clock in ms)", got, want)
	}
	if got := h.Get("Authorization"); got != "Bearer eyJhbGciOi-1" {
		t.Errorf("Authorization %q", got)
	}
}

func TestSendGolden(t *testing.T) {
	c, err := New(Config{AppID: testAppID, ClientID: testClientID, ClientSecret: testSecret, BadgeClass: "com.example.loft.MainActivity"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.buildRequest(chatPush())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "notification.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got)+"\n" != string(want) {
		t.Errorf("request body changed:\n got %s\nwant %s", got, want)
	}
}

func TestSendSilentAndDefaults(t *testing.T) {
	tests := []struct {
		name string
		n    offlinepush.Notification
	}{
		{"silent flag", offlinepush.Notification{Token: "t1", Title: "Alice", Body: "hi", Silent: true, Data: map[string]string{"conv": "1"}, Badge: ptr(5)}},
		{"no text", offlinepush.Notification{Token: "t1", Data: map[string]string{"conv": "1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			c := f.client(t, newClock().Now)
			if err := c.Send(context.Background(), &tt.n); err != nil {
				t.Fatal(err)
			}
			b := f.lastSend()
			if a := path(b, "android", "notification"); a != nil {
				t.Errorf("silent push has android.notification %v", a)
			}
			if path(b, "data") != `{"conv":"1"}` {
				t.Errorf("data = %v", path(b, "data"))
			}
			if ttl := path(b, "android", "ttl"); ttl != nil {
				t.Errorf("ttl %v sent for TTL 0, want Honor's default", ttl)
			}
		})
	}
}

func TestSendOneSidedTextAndTTL(t *testing.T) {
	f := newFake(t)
	c := f.client(t, newClock().Now)
	n := &offlinepush.Notification{Token: "t1", Body: "only a body", TTL: 90 * 24 * time.Hour, Badge: ptr(250)}
	if err := c.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	b := f.lastSend()
	if got := path(b, "android", "notification", "title"); got != "only a body" {
		t.Errorf("title = %v, want the body repeated", got)
	}
	if got := path(b, "android", "ttl"); got != "1296000s" {
		t.Errorf("ttl = %v, want the 15-day cap", got)
	}
	if got := path(b, "android", "notification", "badge", "setNum"); got != json.Number("99") {
		t.Errorf("badge = %v, want 99", got)
	}
	if got := path(b, "data"); got != "{}" {
		t.Errorf("data = %v, want {} for no Data", got)
	}
}

func TestSendCutsLongPreview(t *testing.T) {
	long := strings.Repeat("長い本文 and words ", 600) // about 10 KB, multi-byte
	tests := []struct {
		name        string
		title, body string
	}{
		{"long body", "Alice", long},
		{"long title and body", long, long},
		{"quotes expand in JSON", "Alice", strings.Repeat(`"\`, 5000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			c := f.client(t, newClock().Now)
			n := chatPush()
			n.Title, n.Body = tt.title, tt.body
			if err := c.Send(context.Background(), n); err != nil {
				t.Fatalf("Send: %v (the fake refuses > %d bytes)", err, MaxMessageSize)
			}
			b := f.lastSend()
			title := path(b, "android", "notification", "title").(string)
			body := path(b, "android", "notification", "body").(string)
			if !utf8.ValidString(title) || !utf8.ValidString(body) {
				t.Error("cut split a character")
			}
			if !strings.HasSuffix(body, "…") || len(body) >= len(tt.body) {
				t.Errorf("body not cut: %d bytes", len(body))
			}
			if len(tt.title) < 100 && title != tt.title {
				t.Errorf("short title changed to %q", title)
			}
			// Cut no more than needed: the message is close to the limit.
			f.mu.Lock()
			raw := f.raw[len(f.raw)-1]
			f.mu.Unlock()
			if len(raw) < MaxMessageSize-64 {
				t.Errorf("message is %d bytes: cut far more than needed", len(raw))
			}
		})
	}
}

func TestSendDataTooLarge(t *testing.T) {
	f := newFake(t)
	c := f.client(t, newClock().Now)
	n := chatPush()
	n.Data["blob"] = strings.Repeat("x", 5000)
	err := c.Send(context.Background(), n)
	var e *offlinepush.Error
	if !errors.As(err, &e) || e.Kind != offlinepush.KindPayload || !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("Send = %v, want KindPayload ErrPayloadTooLarge", err)
	}
	if auth, send := f.counts(); auth != 0 || send != 0 {
		t.Errorf("contacted Honor (%d auth, %d send) for a push that cannot fit", auth, send)
	}
}

func TestTokenCachedAcrossSends(t *testing.T) {
	f := newFake(t)
	clk := newClock()
	c := f.client(t, clk.Now)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := c.Send(context.Background(), chatPush()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if auth, send := f.counts(); auth != 1 || send != 20 {
		t.Fatalf("20 concurrent sends made %d token requests and %d sends, want 1 and 20", auth, send)
	}

	clk.Advance(50 * time.Minute) // inside expires_in minus the margin
	if err := c.Send(context.Background(), chatPush()); err != nil {
		t.Fatal(err)
	}
	if auth, _ := f.counts(); auth != 1 {
		t.Errorf("token refetched after 50 min of 60: %d token requests", auth)
	}

	clk.Advance(6 * time.Minute) // 56 min: within the margin of expiry
	if err := c.Send(context.Background(), chatPush()); err != nil {
		t.Fatal(err)
	}
	if auth, _ := f.counts(); auth != 2 {
		t.Errorf("token not refreshed near expiry: %d token requests, want 2", auth)
	}
	f.mu.Lock()
	last := f.headers[len(f.headers)-1].Get("Authorization")
	f.mu.Unlock()
	if last != "Bearer eyJhbGciOi-2" {
		t.Errorf("last send used %q, want the new token", last)
	}
}

func TestTokenRefreshedWhenHonorRefusesIt(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"HTTP 401 without body", http.StatusUnauthorized, ``},
		{"80200003 with 200", http.StatusOK, `{"code":80200003,"message":"token expired"}`},
		{"80200001 as a string", http.StatusOK, `{"code":"80200001","message":"authentication error"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			c := f.client(t, newClock().Now)
			if err := c.Send(context.Background(), chatPush()); err != nil {
				t.Fatal(err)
			}
			// Honor now refuses the cached token once.
			once := true
			f.mu.Lock()
			f.sendHook = func(w http.ResponseWriter, _ *http.Request) bool {
				if !once {
					return false
				}
				once = false
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
				return true
			}
			f.mu.Unlock()
			if err := c.Send(context.Background(), chatPush()); err != nil {
				t.Fatalf("Send after refresh: %v", err)
			}
			if auth, send := f.counts(); auth != 2 || send != 3 {
				t.Errorf("%d token requests, %d sends; want 2 and 3 (one refresh, one resend)", auth, send)
			}
		})
	}

	t.Run("expired server side", func(t *testing.T) {
		f := newFake(t)
		c := f.client(t, newClock().Now)
		if err := c.Send(context.Background(), chatPush()); err != nil {
			t.Fatal(err)
		}
		f.expireAll()
		if err := c.Send(context.Background(), chatPush()); err != nil {
			t.Fatal(err)
		}
		if auth, send := f.counts(); auth != 2 || send != 3 {
			t.Errorf("%d token requests, %d sends; want 2 and 3", auth, send)
		}
	})

	t.Run("still refused after refresh", func(t *testing.T) {
		f := newFake(t)
		c := f.client(t, newClock().Now)
		f.reply(http.StatusOK, `{"code":80200001,"message":"authentication error"}`)
		err := c.Send(context.Background(), chatPush())
		if k := offlinepush.KindOf(err); k != offlinepush.KindAuth {
			t.Fatalf("Send = %v, want KindAuth", err)
		}
		if auth, send := f.counts(); auth != 2 || send != 2 {
			t.Errorf("%d token requests, %d sends; want exactly one refresh and one resend", auth, send)
		}
	})
}

func TestSendErrorKinds(t *testing.T) {
	const tok = "IQAAAACy0kYhAADi2wHonorToken"
	ok := func(extra string) string {
		return `{"code":200,"message":"success","data":{"sendResult":` + extra + `,"requestId":"1"}}`
	}
	tests := []struct {
		name       string
		status     int
		body       string
		header     []string
		want       offlinepush.ErrorKind // 0: success
		code       string
		retryAfter time.Duration
	}{
		{"success", 200, ok(`true,"failTokens":[],"expireTokens":[]`), nil, 0, "", 0},
		{"success as string code", 200, `{"code":"200","message":"success"}`, nil, 0, "", 0},
		{"huawei-style success", 200, `{"code":"80000000","msg":"Success","requestId":"1"}`, nil, 0, "", 0},
		{"expired token listed", 200, ok(`false,"failTokens":[],"expireTokens":["` + tok + `"]`), nil, offlinepush.KindTokenInvalid, "200", 0},
		{"failed token listed", 200, ok(`false,"failTokens":["` + tok + `"],"expireTokens":[]`), nil, offlinepush.KindTokenInvalid, "200", 0},
		{"other token listed", 200, ok(`true,"failTokens":["someone-else"]`), nil, 0, "", 0},
		{"not sent, no reason", 200, ok(`false`), nil, offlinepush.KindRetry, "200", 0},
		{"partial, ours listed", 200, `{"code":80100000,"message":"partial","data":{"failTokens":["` + tok + `"]}}`, nil, offlinepush.KindTokenInvalid, "80100000", 0},
		{"all tokens invalid", 200, `{"code":80300007,"message":"all the tokens are invalid"}`, nil, offlinepush.KindTokenInvalid, "80300007", 0},
		{"bad message structure", 400, `{"code":80100003,"message":"illegal payload"}`, nil, offlinepush.KindPayload, "80100003", 0},
		{"too large", 200, `{"code":80300008,"message":"message body too large"}`, nil, offlinepush.KindPayload, "80300008", 0},
		{"app not allowed", 200, `{"code":80300002,"message":"no permission"}`, nil, offlinepush.KindAuth, "80300002", 0},
		{"internal error", 200, `{"code":81000001,"message":"system inner error"}`, nil, offlinepush.KindRetry, "81000001", 0},
		{"flow control", 503, ``, []string{"Retry-After", "30"}, offlinepush.KindRetry, "", 30 * time.Second},
		{"too many requests", 429, ``, []string{"Retry-After", "5"}, offlinepush.KindRetry, "", 5 * time.Second},
		{"server error", 500, `<html>oops</html>`, nil, offlinepush.KindRetry, "", 0},
		{"wrong app id", 404, ``, nil, offlinepush.KindAuth, "", 0},
		{"unknown code", 200, `{"code":80999999,"message":"new"}`, nil, offlinepush.KindPayload, "80999999", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			c := f.client(t, newClock().Now)
			f.reply(tt.status, tt.body, tt.header...)
			err := c.Send(context.Background(), chatPush())
			if tt.want == 0 {
				if err != nil {
					t.Fatalf("Send = %v, want success", err)
				}
				return
			}
			var e *offlinepush.Error
			if !errors.As(err, &e) {
				t.Fatalf("Send = %v, want *offlinepush.Error", err)
			}
			if e.Kind != tt.want || e.Code != tt.code || e.Status != tt.status || e.RetryAfter != tt.retryAfter || e.Vendor != "honor" {
				t.Errorf("Send = %+v, want kind %v code %q status %d retry-after %v", e, tt.want, tt.code, tt.status, tt.retryAfter)
			}
			if _, send := f.counts(); send != 1 {
				t.Errorf("%d sends: Send retried by itself", send)
			}
		})
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	t.Run("wrong secret", func(t *testing.T) {
		f := newFake(t)
		c := f.client(t, newClock().Now, func(cfg *Config) { cfg.ClientSecret = "wrong" })
		err := c.Send(context.Background(), chatPush())
		var e *offlinepush.Error
		if !errors.As(err, &e) || e.Kind != offlinepush.KindAuth || e.Code != "unauthorized_client" || e.Status != 401 {
			t.Fatalf("Send = %v, want KindAuth unauthorized_client (HTTP 401)", err)
		}
		if _, send := f.counts(); send != 0 {
			t.Error("pushed without a token")
		}
	})
	t.Run("token endpoint down", func(t *testing.T) {
		f := newFake(t)
		f.authHook = func(w http.ResponseWriter) bool {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		c := f.client(t, newClock().Now)
		err := c.Send(context.Background(), chatPush())
		var e *offlinepush.Error
		if !errors.As(err, &e) || e.Kind != offlinepush.KindRetry || e.RetryAfter != time.Minute {
			t.Fatalf("Send = %v, want KindRetry after 60s", err)
		}
	})
	t.Run("no token in answer", func(t *testing.T) {
		f := newFake(t)
		f.authHook = func(w http.ResponseWriter) bool {
			w.Write([]byte(`{"token_type":"Bearer"}`))
			return true
		}
		c := f.client(t, newClock().Now)
		if k := offlinepush.KindOf(c.Send(context.Background(), chatPush())); k != offlinepush.KindRetry {
			t.Fatalf("kind %v, want retry", k)
		}
	})
}

func TestNetworkErrorsAreRetry(t *testing.T) {
	f := newFake(t)
	c := f.client(t, newClock().Now)
	if err := c.Send(context.Background(), chatPush()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Send(ctx, chatPush()); offlinepush.KindOf(err) != offlinepush.KindRetry || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled Send = %v, want KindRetry wrapping context.Canceled", err)
	}
	f.srv.Close()
	if err := c.Send(context.Background(), chatPush()); offlinepush.KindOf(err) != offlinepush.KindRetry {
		t.Errorf("Send to a closed server = %v, want KindRetry", err)
	}
}
