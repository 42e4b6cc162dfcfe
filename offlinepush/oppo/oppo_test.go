package oppo

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/loftchat/loft/offlinepush"
)

func loftData() map[string]string {
	return map[string]string{"conv": "c-17", "seq": "42", "msg_id": "m-9001"}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no app key", Config{MasterSecret: "s"}, "AppKey"},
		{"no master secret", Config{AppKey: "k"}, "MasterSecret"},
		{"bad base URL", Config{AppKey: "k", MasterSecret: "s", BaseURL: "no-scheme"}, "bad URL"},
		{"defaults", Config{AppKey: "k", MasterSecret: "s"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New: %v, want an error about %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Name() != "oppo" {
				t.Errorf("Name() = %q", c.Name())
			}
			if c.sendURL != "https://api.push.oppomobile.com/server/v1/message/notification/unicast" ||
				c.authURL != "https://api.push.oppomobile.com/server/v1/auth" {
				t.Errorf("URLs %q %q", c.sendURL, c.authURL)
			}
			if c.cfg.HTTPClient == nil || c.cfg.HTTPClient.Timeout == 0 {
				t.Error("no default HTTP client with a timeout")
			}
		})
	}
}

func TestSendMapsNotification(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{ChannelID: "chat", Category: "IM", NotifyLevel: 16})
	data := loftData()
	data["sender"] = "alice"
	n := &offlinepush.Notification{
		Token: "CN_078ad8b8a137cadb14ae5b70cf846312", Title: "Alice", Body: "lunch at noon?",
		Data: data, CollapseKey: "c-17", TTL: 2 * time.Hour, High: true,
	}
	if err := c.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	p := f.lastPush(t)
	if p.message["target_value"] != n.Token {
		t.Errorf("target_value %v", p.message["target_value"])
	}
	want := map[string]any{
		"style": json.Number("1"), "title": "Alice", "content": "lunch at noon?",
		"click_action_type": json.Number("0"), "off_line": true, "off_line_ttl": json.Number("7200"),
		"channel_id": "chat", "category": "IM", "notify_level": json.Number("16"),
	}
	for k, v := range want {
		if p.notif[k] != v {
			t.Errorf("notification.%s = %#v, want %#v", k, p.notif[k], v)
		}
	}
	params := decodeParams(t, p.notif)
	if len(params) != len(data) {
		t.Errorf("action_parameters %v, want %v", params, data)
	}
	for k, v := range data {
		if params[k] != v {
			t.Errorf("action_parameters[%s] = %q, want %q", k, params[k], v)
		}
	}
	id := p.notif["notify_id"]
	if id == nil || id == json.Number("0") {
		t.Fatalf("notify_id %v for a collapse key", id)
	}

	// Same conversation: same notify_id (replaces); another: a new one.
	// Normal priority: no notify_level.
	n2 := *n
	n2.High = false
	if err := c.Send(context.Background(), &n2); err != nil {
		t.Fatal(err)
	}
	if p := f.lastPush(t); p.notif["notify_id"] != id {
		t.Errorf("same collapse key, notify_id %v then %v", id, p.notif["notify_id"])
	} else if _, ok := p.notif["notify_level"]; ok {
		t.Errorf("notify_level sent without High: %v", p.notif["notify_level"])
	}
	n2.CollapseKey = "c-18"
	if err := c.Send(context.Background(), &n2); err != nil {
		t.Fatal(err)
	}
	if p := f.lastPush(t); p.notif["notify_id"] == id {
		t.Errorf("different collapse keys share notify_id %v", id)
	}
	n2.CollapseKey = ""
	if err := c.Send(context.Background(), &n2); err != nil {
		t.Fatal(err)
	}
	if p := f.lastPush(t); p.notif["notify_id"] != nil {
		t.Errorf("notify_id %v without a collapse key", p.notif["notify_id"])
	}
}

func TestSendTTLAndDefaults(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	tests := []struct {
		name  string
		n     offlinepush.Notification
		check func(t *testing.T, notif map[string]any)
	}{
		{"no TTL leaves OPPO's default", offlinepush.Notification{Title: "t", Body: "b"}, func(t *testing.T, notif map[string]any) {
			if _, ok := notif["off_line_ttl"]; ok {
				t.Errorf("off_line_ttl %v", notif["off_line_ttl"])
			}
		}},
		{"short TTL raised to an hour", offlinepush.Notification{Title: "t", Body: "b", TTL: time.Minute}, func(t *testing.T, notif map[string]any) {
			if notif["off_line_ttl"] != json.Number("3600") {
				t.Errorf("off_line_ttl %v", notif["off_line_ttl"])
			}
		}},
		{"long TTL cut to ten days", offlinepush.Notification{Title: "t", Body: "b", TTL: 30 * 24 * time.Hour}, func(t *testing.T, notif map[string]any) {
			if notif["off_line_ttl"] != json.Number("864000") {
				t.Errorf("off_line_ttl %v", notif["off_line_ttl"])
			}
		}},
		{"body without title", offlinepush.Notification{Body: "b"}, func(t *testing.T, notif map[string]any) {
			if notif["title"] != "New message" || notif["content"] != "b" {
				t.Errorf("title %v content %v", notif["title"], notif["content"])
			}
		}},
		{"title without body", offlinepush.Notification{Title: "t"}, func(t *testing.T, notif map[string]any) {
			if notif["content"] != "t" {
				t.Errorf("content %v", notif["content"])
			}
		}},
		{"no data, no action_parameters", offlinepush.Notification{Title: "t", Body: "b"}, func(t *testing.T, notif map[string]any) {
			if _, ok := notif["action_parameters"]; ok {
				t.Errorf("action_parameters %v", notif["action_parameters"])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.n.Token = "CN_1"
			if err := c.Send(context.Background(), &tt.n); err != nil {
				t.Fatal(err)
			}
			tt.check(t, f.lastPush(t).notif)
		})
	}
}

func TestSendCutsToOPPOLimits(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	data := loftData()
	data["big"] = strings.Repeat("z", 5000)
	tests := []struct {
		name, title, body string
	}{
		{"ascii", strings.Repeat("T", 200), strings.Repeat("x", 10*1024)},
		{"chinese", strings.Repeat("标题", 100), strings.Repeat("消息内容", 2560)},
		{"emoji", strings.Repeat("🎉", 80), strings.Repeat("👍🏽", 3000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &offlinepush.Notification{Token: "CN_1", Title: tt.title, Body: tt.body, Data: data}
			if err := c.Send(context.Background(), n); err != nil {
				t.Fatal(err) // the fake refuses anything over OPPO's limits
			}
			notif := f.lastPush(t).notif
			title, content := notif["title"].(string), notif["content"].(string)
			for _, s := range []string{title, content} {
				if !utf8.ValidString(s) || !strings.HasSuffix(s, "…") || utf8.RuneCountInString(s) > 50 || utf8.RuneCountInString(s) < 20 {
					t.Errorf("cut to %q (%d chars)", s, utf8.RuneCountInString(s))
				}
			}
			params := decodeParams(t, notif)
			if _, ok := params["big"]; ok {
				t.Error("a 5000-byte value fits in 4000 characters?")
			}
			for k, v := range loftData() {
				if params[k] != v {
					t.Errorf("Loft key %s lost: %v", k, params)
				}
			}
		})
	}
}

func TestCut(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"hello", 5, "hello"},
		{"hello!", 5, "hell…"},
		{"你好世界再见", 5, "你好世界…"},
		{"ab🎉cd", 4, "ab…"},  // the emoji counts two: no room beside the ellipsis
		{"abcdé", 4, "abc…"}, // a short multibyte tail: Truncate would keep s whole
	}
	for _, tt := range tests {
		if got := cut(tt.in, tt.limit); got != tt.want {
			t.Errorf("cut(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
}

func TestSilentUnsupported(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	for _, n := range []*offlinepush.Notification{
		{Token: "CN_1", Title: "t", Body: "b", Silent: true},
		{Token: "CN_1", Data: loftData()},
	} {
		err := c.Send(context.Background(), n)
		if offlinepush.KindOf(err) != offlinepush.KindPayload || !errors.Is(err, ErrSilentUnsupported) {
			t.Errorf("silent push: %v", err)
		}
	}
	if auth, pushes := f.counts(); auth != 0 || pushes != 0 {
		t.Errorf("silent pushes reached OPPO: %d auth, %d pushes", auth, pushes)
	}
	if err := c.Send(context.Background(), &offlinepush.Notification{Title: "t"}); offlinepush.KindOf(err) != offlinepush.KindTokenInvalid {
		t.Errorf("empty token: %v", err)
	}
}

func TestTokenCachedAndRefreshed(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	ctx := context.Background()
	n := &offlinepush.Notification{Token: "CN_1", Title: "t", Body: "b"}
	send := func() {
		t.Helper()
		if err := c.Send(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	wantCounts := func(auth, pushes int) {
		t.Helper()
		if a, p := f.counts(); a != auth || p != pushes {
			t.Fatalf("%d auth calls, %d pushes; want %d, %d", a, p, auth, pushes)
		}
	}

	for range 5 {
		send()
	}
	wantCounts(1, 5)

	f.clock.Advance(22 * time.Hour) // still good
	send()
	wantCounts(1, 6)
	f.clock.Advance(time.Hour) // within an hour of its 24 h: replaced
	send()
	wantCounts(2, 7)

	// OPPO drops the token early: one refresh, the push goes through.
	f.revokeTokens()
	send()
	wantCounts(3, 8)

	// OPPO refuses fresh tokens too: KindAuth after exactly one refresh.
	f.set(func(f *fakeOPPO) { f.refuseTokens = true })
	err := c.Send(ctx, n)
	var e *offlinepush.Error
	if !errors.As(err, &e) || e.Kind != offlinepush.KindAuth || e.Code != "11" {
		t.Fatalf("refused tokens: %v", err)
	}
	wantCounts(4, 8)
}

func TestTokenIssuedEarlierExpiresEarlier(t *testing.T) {
	f := newFake(t)
	f.set(func(f *fakeOPPO) { f.createTimeAge = 20 * time.Hour })
	c := f.client(t, Config{})
	n := &offlinepush.Notification{Token: "CN_1", Title: "t", Body: "b"}
	for _, step := range []struct {
		advance  time.Duration
		wantAuth int
	}{{0, 1}, {2 * time.Hour, 1}, {time.Hour, 2}} {
		f.clock.Advance(step.advance)
		if err := c.Send(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		if a, _ := f.counts(); a != step.wantAuth {
			t.Fatalf("after %v: %d auth calls, want %d", step.advance, a, step.wantAuth)
		}
	}
}

func TestConcurrentSendsShareOneToken(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			n := &offlinepush.Notification{Token: "CN_1", Title: "t", Body: "b", CollapseKey: string(rune('a' + i%26))}
			errs <- c.Send(context.Background(), n)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if a, p := f.counts(); a != 1 || p != 32 {
		t.Errorf("%d auth calls, %d pushes; want 1, 32", a, p)
	}
}

func TestPushErrorKinds(t *testing.T) {
	tests := []struct {
		name       string
		answer     answer
		kind       offlinepush.ErrorKind
		code       string
		status     int
		retryAfter time.Duration
	}{
		{"service unavailable", answer{body: `{"code":-1,"message":"Service Currently Unavailable"}`}, offlinepush.KindRetry, "-1", 0, 0},
		{"flow control", answer{body: `{"code":-2,"message":"Service in Flow Control"}`}, offlinepush.KindRetry, "-2", 0, 0},
		{"call frequency", answer{body: `{"code":55,"message":"App Call Frequency Limit"}`}, offlinepush.KindRetry, "55", 0, 0},
		{"app call limited", answer{body: `{"code":13,"message":"App Call Limited"}`}, offlinepush.KindQuota, "13", 0, 0},
		{"daily limit", answer{body: `{"code":33,"message":"The number of messages exceeds the daily limit"}`}, offlinepush.KindQuota, "33", 0, 0},
		{"invalid app key", answer{body: `{"code":14,"message":"Invalid App Key"}`}, offlinepush.KindAuth, "14", 0, 0},
		{"app disabled", answer{body: `{"code":28,"message":"App Disabled"}`}, offlinepush.KindAuth, "28", 0, 0},
		{"no API permission", answer{body: `{"code":30,"message":"Api Permission Denied"}`}, offlinepush.KindAuth, "30", 0, 0},
		{"category", answer{body: `{"code":67,"message":"Category error"}`}, offlinepush.KindAuth, "67", 0, 0},
		{"invalid registration_id", answer{body: `{"code":10000,"message":"Invalid Registration_id"}`}, offlinepush.KindTokenInvalid, "10000", 0, 0},
		{"code as a string", answer{body: `{"code":"10000","message":"registration_id格式不正确"}`}, offlinepush.KindTokenInvalid, "10000", 0, 0},
		{"invalid arguments", answer{body: `{"code":41,"message":"Invalid Arguments"}`}, offlinepush.KindPayload, "41", 0, 0},
		{"http action", answer{body: `{"code":12,"message":"Http Action Not Allowed"}`}, offlinepush.KindPayload, "12", 0, 0},
		{"HTTP 503", answer{status: 503, header: map[string]string{"Retry-After": "30"}, body: "busy"}, offlinepush.KindRetry, "", 503, 30 * time.Second},
		{"HTTP 429", answer{status: 429, header: map[string]string{"Retry-After": "5"}}, offlinepush.KindRetry, "", 429, 5 * time.Second},
		{"HTTP 401", answer{status: 401}, offlinepush.KindAuth, "", 401, 0},
		{"HTTP 400", answer{status: 400}, offlinepush.KindPayload, "", 400, 0},
		{"not JSON", answer{body: "<html>gateway</html>"}, offlinepush.KindRetry, "malformed_answer", 0, 0},
	}
	f := newFake(t)
	c := f.client(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.script(tt.answer)
			err := c.Send(context.Background(), &offlinepush.Notification{Token: "CN_1", Title: "t", Body: "b"})
			var e *offlinepush.Error
			if !errors.As(err, &e) {
				t.Fatalf("Send: %v, want an *offlinepush.Error", err)
			}
			if e.Vendor != "oppo" || e.Kind != tt.kind || e.Code != tt.code || e.Status != tt.status || e.RetryAfter != tt.retryAfter {
				t.Errorf("got %+v, want kind %v code %q status %d retry after %v", e, tt.kind, tt.code, tt.status, tt.retryAfter)
			}
		})
	}
}

func TestAuthErrorKinds(t *testing.T) {
	tests := []struct {
		name   string
		answer answer
		kind   offlinepush.ErrorKind
		code   string
	}{
		{"invalid signature", answer{body: `{"code":16,"message":"Invalid Signature"}`}, offlinepush.KindAuth, "16"},
		{"missing arguments", answer{body: `{"code":40,"message":"Missing Required Arguments"}`}, offlinepush.KindAuth, "40"},
		{"busy", answer{body: `{"code":-1,"message":"Service Currently Unavailable"}`}, offlinepush.KindRetry, "-1"},
		{"HTTP 502", answer{status: 502}, offlinepush.KindRetry, ""},
		{"no token", answer{body: `{"code":0,"message":"Success","data":{}}`}, offlinepush.KindRetry, "malformed_answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.set(func(f *fakeOPPO) { f.authAnswer = &tt.answer })
			c := f.client(t, Config{})
			err := c.Send(context.Background(), &offlinepush.Notification{Token: "CN_1", Title: "t", Body: "b"})
			var e *offlinepush.Error
			if !errors.As(err, &e) || e.Kind != tt.kind || e.Code != tt.code {
				t.Errorf("Send: %v, want kind %v code %q", err, tt.kind, tt.code)
			}
			if _, p := f.counts(); p != 0 {
				t.Errorf("%d pushes without a token", p)
			}
		})
	}
}

func TestAuthDataAsString(t *testing.T) {
	// OPPO has been seen to send data as a string holding the object.
	f := newFake(t)
	f.set(func(f *fakeOPPO) {
		f.valid["tok-s"] = true
		f.authAnswer = &answer{body: `{"code":0,"message":"Success","data":"{\"auth_token\":\"tok-s\",\"create_time\":0}"}`}
	})
	c := f.client(t, Config{})
	if err := c.Send(context.Background(), &offlinepush.Notification{Token: "CN_1", Title: "t", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	if p := f.lastPush(t); p.token != "tok-s" {
		t.Errorf("pushed with %q", p.token)
	}
}

func TestNetworkAndContextErrors(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	n := &offlinepush.Notification{Token: "CN_1", Title: "t", Body: "b"}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Send(ctx, n)
	if offlinepush.KindOf(err) != offlinepush.KindRetry || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	var e *offlinepush.Error
	if !errors.As(err, &e) {
		t.Errorf("canceled: %T, want *offlinepush.Error", err)
	}

	f.srv.Close()
	err = c.Send(context.Background(), n)
	if !errors.As(err, &e) || e.Kind != offlinepush.KindRetry {
		t.Errorf("server gone: %v", err)
	}
}
