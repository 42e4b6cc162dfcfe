package xiaomi

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
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

func chatPush() *offlinepush.Notification {
	three := 3
	return &offlinepush.Notification{
		Token:       "ONfa7S3kOIs2N1k+regid",
		Platform:    "android",
		Title:       "Alice",
		Body:        "lunch at noon? 午饭？",
		Data:        map[string]string{"conv": "42", "seq": "7", "msg_id": "9001"},
		Badge:       &three,
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
		{Config{PackageName: "p"}, "AppSecret"},
		{Config{AppSecret: "s"}, "PackageName"},
		{Config{AppSecret: "s", PackageName: "p", BaseURL: "xmpush"}, "absolute URL"},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error about %s", tt.cfg, err, tt.want)
		}
	}
	c, err := New(Config{AppSecret: "s", PackageName: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "xiaomi" || c.sendURL != "https://api.xmpush.xiaomi.com/v3/message/regid" {
		t.Errorf("defaults: name %q, url %q", c.Name(), c.sendURL)
	}
	if c.cfg.HTTPClient == nil || c.cfg.HTTPClient.Timeout == 0 {
		t.Error("default HTTP client has no timeout")
	}
}

func TestSendNotificationFields(t *testing.T) {
	f := newFake(t)
	c := f.client(t)
	n := chatPush()
	if err := c.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	form := f.last()
	want := map[string]string{
		"registration_id":         n.Token,
		"restricted_package_name": testPackage,
		"pass_through":            "0",
		"title":                   "Alice",
		"description":             "lunch at noon? 午饭？",
		"notify_type":             "-1",
		"time_to_live":            "3600000",
		"extra.channel_id":        "loft_messages",
		"extra.sound_uri":         "android.resource://com.example.loft/raw/ding",
	}
	for k, v := range want {
		if got := form.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	var data map[string]string
	if err := json.Unmarshal([]byte(form.Get("payload")), &data); err != nil {
		t.Fatal(err)
	}
	if len(data) != 3 || data["conv"] != "42" || data["seq"] != "7" || data["msg_id"] != "9001" {
		t.Errorf("payload = %v, want Loft's Data map", data)
	}
	for _, k := range []string{"extra.badge", "badge", "priority"} {
		if form.Has(k) {
			t.Errorf("%s sent: MiPush documents no such field", k)
		}
	}
}

func TestSendGolden(t *testing.T) {
	c, err := New(Config{AppSecret: testSecret, PackageName: testPackage, ChannelID: "loft_messages"})
	if err != nil {
		t.Fatal(err)
	}
	form, err := c.buildForm(chatPush())
	if err != nil {
		t.Fatal(err)
	}
	got := form.Encode() + "\n" // Encode sorts the keys
	golden := filepath.Join("testdata", "notification.form")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("request body changed:\n got %s\nwant %s", got, want)
	}
}

func TestNotifyIDCollapses(t *testing.T) {
	f := newFake(t)
	c := f.client(t)
	send := func(n *offlinepush.Notification) string {
		t.Helper()
		if err := c.Send(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		return f.last().Get("notify_id")
	}
	a := chatPush()
	b := chatPush()
	b.Data = map[string]string{"conv": "42", "seq": "8", "msg_id": "9002"}
	other := chatPush()
	other.CollapseKey = "conv-43"
	if send(a) != send(b) || send(a) == send(other) {
		t.Error("notify_id must be equal within a CollapseKey and differ across keys")
	}

	// Without a CollapseKey each message stays on screen.
	a.CollapseKey, b.CollapseKey = "", ""
	if ia, ib := send(a), send(b); ia == "" || ia == ib {
		t.Errorf("notify_id without CollapseKey: %q and %q, want distinct per message", ia, ib)
	}
	a.Data = nil
	if id := send(a); id != "" {
		t.Errorf("notify_id %q with neither key nor msg_id, want none", id)
	}
}

func TestSendSilentAndOneSided(t *testing.T) {
	tests := []struct {
		name        string
		n           offlinepush.Notification
		passThrough string
		title, desc string
	}{
		{"silent flag", offlinepush.Notification{Token: "r1", Title: "Alice", Body: "hi", Silent: true}, "1", "", ""},
		{"no text", offlinepush.Notification{Token: "r1", Data: map[string]string{"conv": "1"}}, "1", "", ""},
		{"blank text", offlinepush.Notification{Token: "r1", Title: "  ", Body: "\n"}, "1", "", ""},
		{"body only", offlinepush.Notification{Token: "r1", Body: "only a body"}, "0", "only a body", "only a body"},
		{"title only", offlinepush.Notification{Token: "r1", Title: "Alice"}, "0", "Alice", "Alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			c := f.client(t)
			if err := c.Send(context.Background(), &tt.n); err != nil {
				t.Fatal(err)
			}
			form := f.last()
			if got := form.Get("pass_through"); got != tt.passThrough {
				t.Errorf("pass_through %q, want %q", got, tt.passThrough)
			}
			if form.Get("title") != tt.title || form.Get("description") != tt.desc {
				t.Errorf("title %q description %q, want %q %q", form.Get("title"), form.Get("description"), tt.title, tt.desc)
			}
			if tt.passThrough == "1" && (form.Has("notify_type") || form.Has("extra.channel_id")) {
				t.Error("pass-through message has notification fields")
			}
			if form.Get("payload") == "" || form.Has("time_to_live") {
				t.Errorf("payload %q, time_to_live %q", form.Get("payload"), form.Get("time_to_live"))
			}
		})
	}
}

func TestSendCutsLongPreview(t *testing.T) {
	f := newFake(t)
	c := f.client(t)
	n := chatPush()
	n.Title = strings.Repeat("很长的标题", 2000)              // 10,000 characters, 30 KB
	n.Body = strings.Repeat("a long body, 长长的正文. ", 400) // about 10 KB
	n.TTL = 90 * 24 * time.Hour
	if err := c.Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	form := f.last()
	title, desc := form.Get("title"), form.Get("description")
	if utf8.RuneCountInString(title) != MaxTitle || utf8.RuneCountInString(desc) != MaxDescription {
		t.Errorf("title %d and description %d characters, want %d and %d",
			utf8.RuneCountInString(title), utf8.RuneCountInString(desc), MaxTitle, MaxDescription)
	}
	if !strings.HasSuffix(title, "…") || !strings.HasSuffix(desc, "…") || !strings.HasPrefix(title, "很长的标题") {
		t.Errorf("cut title %q, description %q", title, desc)
	}
	if got := form.Get("time_to_live"); got != "1209600000" {
		t.Errorf("time_to_live %q, want the two-week cap", got)
	}
}

func TestSendDataTooLarge(t *testing.T) {
	f := newFake(t)
	c := f.client(t)
	n := chatPush()
	n.Data["blob"] = strings.Repeat("x", 5000)
	err := c.Send(context.Background(), n)
	var e *offlinepush.Error
	if !errors.As(err, &e) || e.Kind != offlinepush.KindPayload || !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("Send = %v, want KindPayload ErrPayloadTooLarge", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls != 0 {
		t.Error("contacted MiPush with a payload it must refuse")
	}
}

func TestSendErrorKinds(t *testing.T) {
	tok := chatPush().Token
	errBody := func(code int, reason string) string {
		b, _ := json.Marshal(map[string]any{"result": "error", "code": code, "reason": reason, "description": "失败", "trace_id": "X"})
		return string(b)
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
		{"success", 200, `{"result":"ok","code":0,"data":{"id":"scm1"},"description":"成功"}`, nil, 0, "", 0},
		{"success, another id bad", 200, `{"result":"ok","code":0,"data":{"id":"scm1","bad_regids":"someone,else"}}`, nil, 0, "", 0},
		{"success, ours bad", 200, `{"result":"ok","code":0,"data":{"id":"scm1","bad_regids":"x,` + tok + `"}}`, nil, offlinepush.KindTokenInvalid, "0", 0},
		{"no valid targets", 200, errBody(20301, "No valid targets!"), nil, offlinepush.KindTokenInvalid, "20301", 0},
		{"auth failed", 200, errBody(21301, "Authentication failed"), nil, offlinepush.KindAuth, "21301", 0},
		{"bad package", 200, errBody(22022, "invalid package name"), nil, offlinepush.KindAuth, "22022", 0},
		{"blacklisted", 200, errBody(10031, "app in blacklist"), nil, offlinepush.KindAuth, "10031", 0},
		{"bad parameter", 200, errBody(10017, "invalid parameter value"), nil, offlinepush.KindPayload, "10017", 0},
		{"content too long", 200, errBody(65009, "message too long"), nil, offlinepush.KindPayload, "65009", 0},
		{"system busy", 200, errBody(10002, "system busy"), nil, offlinepush.KindRetry, "10002", 0},
		{"too frequent", 200, errBody(10027, "too many calls"), nil, offlinepush.KindRetry, "10027", 0},
		{"daily count", 200, errBody(10034, "too many messages today"), nil, offlinepush.KindQuota, "10034", 0},
		{"daily limit", 200, errBody(200001, "daily limit"), nil, offlinepush.KindQuota, "200001", 0},
		{"unknown code", 200, errBody(99999, "new"), nil, offlinepush.KindPayload, "99999", 0},
		{"HTTP 401", 401, ``, nil, offlinepush.KindAuth, "", 0},
		{"HTTP 503", 503, ``, []string{"Retry-After", "20"}, offlinepush.KindRetry, "", 20 * time.Second},
		{"HTTP 429", 429, ``, []string{"Retry-After", "3"}, offlinepush.KindRetry, "", 3 * time.Second},
		{"HTTP 400", 400, `bad`, nil, offlinepush.KindPayload, "", 0},
		{"HTTP 200 not JSON", 200, `<html>gateway</html>`, nil, offlinepush.KindRetry, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			c := f.client(t)
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
			if e.Kind != tt.want || e.Code != tt.code || e.Status != tt.status || e.RetryAfter != tt.retryAfter || e.Vendor != "xiaomi" {
				t.Errorf("Send = %+v, want kind %v code %q status %d retry-after %v", e, tt.want, tt.code, tt.status, tt.retryAfter)
			}
			f.mu.Lock()
			calls := f.calls
			f.mu.Unlock()
			if calls != 1 {
				t.Errorf("%d requests: Send retried by itself", calls)
			}
		})
	}
}

// TestFakeRefusals runs the fake's own refusals end to end: a wrong secret
// and an unknown registration ID.
func TestFakeRefusals(t *testing.T) {
	f := newFake(t)
	bad := f.client(t, func(cfg *Config) { cfg.AppSecret = "wrong" })
	if k := offlinepush.KindOf(bad.Send(context.Background(), chatPush())); k != offlinepush.KindAuth {
		t.Errorf("wrong secret: %v, want auth", k)
	}
	n := chatPush()
	n.Token = badRegID
	if k := offlinepush.KindOf(f.client(t).Send(context.Background(), n)); k != offlinepush.KindTokenInvalid {
		t.Errorf("unknown regid: %v, want token_invalid", k)
	}
}

func TestConcurrentSends(t *testing.T) {
	f := newFake(t)
	c := f.client(t)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := c.Send(context.Background(), chatPush()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls != 20 {
		t.Errorf("%d requests, want 20", f.calls)
	}
}

func TestNetworkErrorsAreRetry(t *testing.T) {
	f := newFake(t)
	c := f.client(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Send(ctx, chatPush()); offlinepush.KindOf(err) != offlinepush.KindRetry || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled Send = %v, want KindRetry wrapping context.Canceled", err)
	}
	f.srv.Close()
	if err := c.Send(context.Background(), chatPush()); offlinepush.KindOf(err) != offlinepush.KindRetry {
		t.Errorf("Send to a closed server = %v, want KindRetry", err)
	}
	var e *offlinepush.Error
	if !errors.As(c.Send(context.Background(), chatPush()), &e) {
		t.Error("network failure is not an *offlinepush.Error")
	}
}
