package huawei

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
		Token:       "AAAAHuaweiDeviceToken0001",
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
		{Config{AppSecret: "s"}, "AppID"},
		{Config{AppID: "1"}, "AppSecret"},
		{Config{AppID: "1", AppSecret: "s", BaseURL: "push-api"}, "absolute URL"},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error about %s", tt.cfg, err, tt.want)
		}
	}
	c, err := New(Config{AppID: "1", AppSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "huawei" || c.sendURL != DefaultBaseURL+"/v1/1/messages:send" || c.cfg.AuthURL != DefaultAuthURL {
		t.Errorf("defaults: name %q, send %q, auth %q", c.Name(), c.sendURL, c.cfg.AuthURL)
	}
	if c.cfg.HTTPClient == nil || c.cfg.HTTPClient.Timeout == 0 {
		t.Error("default HTTP client has no timeout")
	}
}

func TestSendNotificationFields(t *testing.T) {
	f := newFake(t)
	c := f.client(t, newClock().Now, func(cfg *Config) { cfg.Category = "IM" })
	n := chatPush()
	if err := c.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	b := f.lastSend()
	checks := []struct {
		path []string
		want any
	}{
		{[]string{"message", "android", "notification", "title"}, "Alice"},
		{[]string{"message", "android", "notification", "body"}, "lunch at <noon>?"},
		{[]string{"message", "android", "notification", "tag"}, "conv-42"},
		{[]string{"message", "android", "notification", "sound"}, "/raw/ding"},
		{[]string{"message", "android", "notification", "default_sound"}, false},
		{[]string{"message", "android", "notification", "badge", "set_num"}, json.Number("3")},
		{[]string{"message", "android", "notification", "badge", "class"}, "com.example.loft.MainActivity"},
		{[]string{"message", "android", "urgency"}, "HIGH"},
		{[]string{"message", "android", "ttl"}, "3600s"},
		{[]string{"message", "android", "category"}, "IM"},
		{[]string{"message", "android", "collapse_key"}, nil},
		{[]string{"message", "notification"}, nil},
	}
	for _, ck := range checks {
		if got := path(b, ck.path...); got != ck.want {
			t.Errorf("%s = %#v, want %#v", strings.Join(ck.path, "."), got, ck.want)
		}
	}
	toks, _ := path(b, "message", "token").([]any)
	if len(toks) != 1 || toks[0] != n.Token {
		t.Errorf("message.token = %v", toks)
	}
	var data map[string]string
	if err := json.Unmarshal([]byte(path(b, "message", "data").(string)), &data); err != nil {
		t.Fatal(err)
	}
	if len(data) != 3 || data["conv"] != "42" || data["seq"] != "7" || data["msg_id"] != "9001" {
		t.Errorf("message.data = %v, want Loft's Data map", data)
	}
}

func TestSendGolden(t *testing.T) {
	c, err := New(Config{AppID: testAppID, AppSecret: testSecret, BadgeClass: "com.example.loft.MainActivity"})
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
			if a := path(b, "message", "android", "notification"); a != nil {
				t.Errorf("silent push has android.notification %v", a)
			}
			if path(b, "message", "data") != `{"conv":"1"}` {
				t.Errorf("message.data = %v", path(b, "message", "data"))
			}
			if u := path(b, "message", "android", "urgency"); u != "NORMAL" {
				t.Errorf("urgency %v, want NORMAL", u)
			}
			if ttl := path(b, "message", "android", "ttl"); ttl != nil {
				t.Errorf("ttl %v sent for TTL 0, want Huawei's default", ttl)
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
	if got := path(b, "message", "android", "notification", "title"); got != "only a body" {
		t.Errorf("title = %v, want the body repeated", got)
	}
	if got := path(b, "message", "android", "ttl"); got != "1296000s" {
		t.Errorf("ttl = %v, want the 15-day cap", got)
	}
	if got := path(b, "message", "android", "notification", "badge", "set_num"); got != json.Number("99") {
		t.Errorf("badge = %v, want 99", got)
	}
	if got := path(b, "message", "android", "data"); got != nil {
		t.Errorf("data in android: %v", got)
	}
	if got := path(b, "message", "data"); got != "{}" {
		t.Errorf("message.data = %v, want {} for no Data", got)
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
			title := path(b, "message", "android", "notification", "title").(string)
			body := path(b, "message", "android", "notification", "body").(string)
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
		t.Errorf("contacted Huawei (%d auth, %d send) for a push that cannot fit", auth, send)
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
	if last != "Bearer CF3Xl2XV6jMK-2==" {
		t.Errorf("last send used %q, want the new token", last)
	}
}

func TestTokenRefreshedWhenHuaweiRefusesIt(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"HTTP 401", http.StatusUnauthorized, `{"code":"80200003","msg":"Oauth Token expired.","requestId":"1"}`},
		{"80200003 with 200", http.StatusOK, `{"code":"80200003","msg":"Oauth Token expired.","requestId":"1"}`},
		{"80200001", http.StatusOK, `{"code":"80200001","msg":"Oauth authentication error","requestId":"1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			c := f.client(t, newClock().Now)
			if err := c.Send(context.Background(), chatPush()); err != nil {
				t.Fatal(err)
			}
			// Huawei now refuses the cached token once.
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
		f.reply(http.StatusOK, `{"code":"80200001","msg":"Oauth authentication error","requestId":"1"}`)
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
	const tok = "AAAAHuaweiDeviceToken0001"
	tests := []struct {
		name       string
		status     int
		body       string
		header     []string
		want       offlinepush.ErrorKind // 0: success
		code       string
		retryAfter time.Duration
	}{
		{"success", 200, `{"code":"80000000","msg":"Success","requestId":"1"}`, nil, 0, "", 0},
		{"partial, ours sent", 200, `{"code":"80100000","msg":"{\"success\":1,\"failure\":0,\"illegal_tokens\":[]}","requestId":"1"}`, nil, 0, "", 0},
		{"partial, ours illegal", 200, `{"code":"80100000","msg":"{\"success\":0,\"failure\":1,\"illegal_tokens\":[\"` + tok + `\"]}","requestId":"1"}`, nil, offlinepush.KindTokenInvalid, "80100000", 0},
		{"all tokens invalid", 200, `{"code":"80300007","msg":"All the tokens are invalid","requestId":"1"}`, nil, offlinepush.KindTokenInvalid, "80300007", 0},
		{"bad message structure", 400, `{"code":"80100003","msg":"Illegal payload","requestId":"1"}`, nil, offlinepush.KindPayload, "80100003", 0},
		{"bad ttl", 200, `{"code":"80100004","msg":"The message is expired","requestId":"1"}`, nil, offlinepush.KindPayload, "80100004", 0},
		{"too large", 200, `{"code":"80300008","msg":"The message body size exceeds the default value","requestId":"1"}`, nil, offlinepush.KindPayload, "80300008", 0},
		{"too many tokens", 200, `{"code":"80300010","msg":"The number of tokens exceeds the default value","requestId":"1"}`, nil, offlinepush.KindPayload, "80300010", 0},
		{"sensitive content", 200, `{"code":"80100016","msg":"sensitive","requestId":"1"}`, nil, offlinepush.KindPayload, "80100016", 0},
		{"app not allowed", 200, `{"code":"80300002","msg":"No permission to send message to these tokens","requestId":"1"}`, nil, offlinepush.KindAuth, "80300002", 0},
		{"oauth service refused", 200, `{"code":"80600003","msg":"Request OAuth service failed","requestId":"1"}`, nil, offlinepush.KindAuth, "80600003", 0},
		{"internal error", 200, `{"code":"81000001","msg":"System inner error","requestId":"1"}`, nil, offlinepush.KindRetry, "81000001", 0},
		{"flow control", 503, ``, []string{"Retry-After", "30"}, offlinepush.KindRetry, "", 30 * time.Second},
		{"too many requests", 429, ``, []string{"Retry-After", "5"}, offlinepush.KindRetry, "", 5 * time.Second},
		{"server error", 500, `<html>oops</html>`, nil, offlinepush.KindRetry, "", 0},
		{"bad gateway", 502, ``, nil, offlinepush.KindRetry, "", 0},
		{"wrong app id", 404, ``, nil, offlinepush.KindAuth, "", 0},
		{"forbidden", 403, ``, nil, offlinepush.KindAuth, "", 0},
		{"unknown code", 200, `{"code":"80999999","msg":"new","requestId":"1"}`, nil, offlinepush.KindPayload, "80999999", 0},
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
			if e.Kind != tt.want || e.Code != tt.code || e.Status != tt.status || e.RetryAfter != tt.retryAfter || e.Vendor != "huawei" {
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
		c := f.client(t, newClock().Now, func(cfg *Config) { cfg.AppSecret = "wrong" })
		err := c.Send(context.Background(), chatPush())
		var e *offlinepush.Error
		if !errors.As(err, &e) || e.Kind != offlinepush.KindAuth || e.Code != "1101" || e.Status != 400 {
			t.Fatalf("Send = %v, want KindAuth 1101 (HTTP 400)", err)
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
