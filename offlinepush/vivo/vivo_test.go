package vivo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
		{"no app id", Config{AppKey: "k", AppSecret: "s"}, "AppID"},
		{"no app key", Config{AppID: "1", AppSecret: "s"}, "AppKey"},
		{"no app secret", Config{AppID: "1", AppKey: "k"}, "AppSecret"},
		{"bad auth URL", Config{AppID: "1", AppKey: "k", AppSecret: "s", AuthURL: "/relative"}, "bad URL"},
		{"defaults", Config{AppID: "1", AppKey: "k", AppSecret: "s"}, ""},
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
			if c.Name() != "vivo" {
				t.Errorf("Name() = %q", c.Name())
			}
			if c.sendURL != "https://api-push.vivo.com.cn/message/send" || c.authURL != "https://api-push.vivo.com.cn/message/auth" {
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
	c := f.client(t, Config{})
	data := loftData()
	data["sender"] = "alice"
	n := &offlinepush.Notification{
		Token: "15638535410301000000001", Title: "Alice", Body: "lunch at noon?",
		Data: data, CollapseKey: "c-17", TTL: 2 * time.Hour, High: true,
	}
	if err := c.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	p := f.lastPush(t)
	want := map[string]any{
		"appId": f.appID, "regId": n.Token, "notifyType": json.Number("4"),
		"title": "Alice", "content": "lunch at noon?", "timeToLive": json.Number("7200"),
		"skipType": json.Number("1"), "networkType": json.Number("-1"),
		"classification": json.Number("1"), "category": "IM",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %#v, want %#v", k, p[k], v)
		}
	}
	if _, ok := p["pushMode"]; ok {
		t.Errorf("pushMode %v without Config.Test", p["pushMode"])
	}
	custom, _ := p["clientCustomMap"].(map[string]any)
	if len(custom) != len(data) {
		t.Errorf("clientCustomMap %v, want %v", custom, data)
	}
	for k, v := range data {
		if custom[k] != v {
			t.Errorf("clientCustomMap[%s] = %v, want %q", k, custom[k], v)
		}
	}
	id := p["notifyId"]
	if id == nil || id == json.Number("0") {
		t.Fatalf("notifyId %v for a collapse key", id)
	}

	// Same conversation: same notifyId; another: a new one; none: absent.
	n2 := *n
	if err := c.Send(context.Background(), &n2); err != nil {
		t.Fatal(err)
	}
	if p := f.lastPush(t); p["notifyId"] != id {
		t.Errorf("same collapse key, notifyId %v then %v", id, p["notifyId"])
	}
	n2.CollapseKey = "c-18"
	if err := c.Send(context.Background(), &n2); err != nil {
		t.Fatal(err)
	}
	if p := f.lastPush(t); p["notifyId"] == id {
		t.Errorf("different collapse keys share notifyId %v", id)
	}
	n2.CollapseKey = ""
	if err := c.Send(context.Background(), &n2); err != nil {
		t.Fatal(err)
	}
	if p := f.lastPush(t); p["notifyId"] != nil {
		t.Errorf("notifyId %v without a collapse key", p["notifyId"])
	}
	f.set(func(f *fakeVivo) {
		if len(f.requestIDs) != len(f.pushes) {
			t.Errorf("%d requestIds for %d pushes", len(f.requestIDs), len(f.pushes))
		}
	})
}

func TestSendConfigAndDefaults(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		n     offlinepush.Notification
		check func(t *testing.T, p map[string]any)
	}{
		{"no TTL leaves vivo's default", Config{}, offlinepush.Notification{Title: "t", Body: "b"}, func(t *testing.T, p map[string]any) {
			if _, ok := p["timeToLive"]; ok {
				t.Errorf("timeToLive %v", p["timeToLive"])
			}
		}},
		{"short TTL raised to 900 s", Config{}, offlinepush.Notification{Title: "t", Body: "b", TTL: time.Minute}, func(t *testing.T, p map[string]any) {
			if p["timeToLive"] != json.Number("900") {
				t.Errorf("timeToLive %v", p["timeToLive"])
			}
		}},
		{"long TTL cut to 7 days", Config{}, offlinepush.Notification{Title: "t", Body: "b", TTL: 30 * 24 * time.Hour}, func(t *testing.T, p map[string]any) {
			if p["timeToLive"] != json.Number("604800") {
				t.Errorf("timeToLive %v", p["timeToLive"])
			}
		}},
		{"operational test push", Config{Operational: true, Test: true}, offlinepush.Notification{Title: "t", Body: "b"}, func(t *testing.T, p map[string]any) {
			if p["classification"] != json.Number("0") || p["pushMode"] != json.Number("1") || p["category"] != nil {
				t.Errorf("classification %v pushMode %v category %v", p["classification"], p["pushMode"], p["category"])
			}
		}},
		{"own category", Config{Category: "ACCOUNT"}, offlinepush.Notification{Title: "t", Body: "b"}, func(t *testing.T, p map[string]any) {
			if p["category"] != "ACCOUNT" {
				t.Errorf("category %v", p["category"])
			}
		}},
		{"body without title", Config{}, offlinepush.Notification{Body: "b"}, func(t *testing.T, p map[string]any) {
			if p["title"] != "New message" || p["content"] != "b" {
				t.Errorf("title %v content %v", p["title"], p["content"])
			}
		}},
		{"no data, no clientCustomMap", Config{}, offlinepush.Notification{Title: "t", Body: "b"}, func(t *testing.T, p map[string]any) {
			if _, ok := p["clientCustomMap"]; ok {
				t.Errorf("clientCustomMap %v", p["clientCustomMap"])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			c := f.client(t, tt.cfg)
			tt.n.Token = "15638535410301000000001"
			if err := c.Send(context.Background(), &tt.n); err != nil {
				t.Fatal(err)
			}
			tt.check(t, f.lastPush(t))
		})
	}
}

func TestSendCutsToVivoLimits(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	data := loftData()
	data["big"] = strings.Repeat("z", 2000)
	for i := range 12 {
		data[fmt.Sprintf("k%02d", i)] = "v"
	}
	tests := []struct {
		name, title, body string
	}{
		{"ascii", strings.Repeat("T", 200), strings.Repeat("x", 10*1024)},
		{"chinese", strings.Repeat("标题", 100), strings.Repeat("消息内容", 2560)},
		{"mixed", strings.Repeat("a标", 100), strings.Repeat("b🎉", 3000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &offlinepush.Notification{Token: "15638535410301000000001", Title: tt.title, Body: tt.body, Data: data}
			if err := c.Send(context.Background(), n); err != nil {
				t.Fatal(err) // the fake refuses anything over vivo's limits
			}
			p := f.lastPush(t)
			for field, limit := range map[string]int{"title": 40, "content": 100} {
				s := p[field].(string)
				if !utf8.ValidString(s) || !strings.HasSuffix(s, "…") || vivoLen(s) > limit || vivoLen(s) < limit/2 {
					t.Errorf("%s cut to %q (%d)", field, s, vivoLen(s))
				}
			}
			custom := p["clientCustomMap"].(map[string]any)
			if len(custom) != 10 {
				t.Errorf("clientCustomMap has %d pairs, want the first 10 that fit", len(custom))
			}
			if _, ok := custom["big"]; ok {
				t.Error("a 2000-byte value fits in 1024 characters?")
			}
			for k, v := range loftData() {
				if custom[k] != v {
					t.Errorf("Loft key %s lost: %v", k, custom)
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
		{"hello world", 8, "hello …"}, // the ellipsis counts two
		{"你好世界再见", 10, "你好世界…"},
		{"你好世界再见", 11, "你好世界…"},
		{"abcdef", 5, "abc…"},
		{"éééé", 6, "éé…"},  // any non-ASCII character counts two
		{"abcdé", 4, "ab…"}, // a short multibyte tail: Truncate would keep s whole
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
		{Token: "1", Title: "t", Body: "b", Silent: true},
		{Token: "1", Data: loftData()},
	} {
		err := c.Send(context.Background(), n)
		if offlinepush.KindOf(err) != offlinepush.KindPayload || !errors.Is(err, ErrSilentUnsupported) {
			t.Errorf("silent push: %v", err)
		}
	}
	if auth, pushes := f.counts(); auth != 0 || pushes != 0 {
		t.Errorf("silent pushes reached vivo: %d auth, %d pushes", auth, pushes)
	}
	if err := c.Send(context.Background(), &offlinepush.Notification{Title: "t"}); offlinepush.KindOf(err) != offlinepush.KindTokenInvalid {
		t.Errorf("empty token: %v", err)
	}
}

func TestTokenCachedAndRefreshed(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	ctx := context.Background()
	n := &offlinepush.Notification{Token: "1", Title: "t", Body: "b"}
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

	f.clock.Advance(59 * time.Minute) // still used
	send()
	wantCounts(1, 6)
	f.clock.Advance(time.Minute) // an hour old: renewed, as vivo asks
	send()
	wantCounts(2, 7)

	// vivo drops the token: one refresh, the push goes through.
	f.revokeTokens()
	send()
	wantCounts(3, 8)

	// vivo refuses fresh tokens too: KindAuth after exactly one refresh.
	f.set(func(f *fakeVivo) { f.refuseTokens = true })
	err := c.Send(ctx, n)
	var e *offlinepush.Error
	if !errors.As(err, &e) || e.Kind != offlinepush.KindAuth || e.Code != "10000" {
		t.Fatalf("refused tokens: %v", err)
	}
	wantCounts(4, 8)
}

func TestConcurrentSendsShareOneToken(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			errs <- c.Send(context.Background(), &offlinepush.Notification{Token: "1", Title: "t", Body: "b"})
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
		{"regId invalid", answer{body: `{"result":10302,"desc":"regId不合法","invalidUser":{"status":1,"userid":"15638535410301000000001"}}`}, offlinepush.KindTokenInvalid, "10302", 0, 0},
		{"invalid user uninstalled", answer{body: `{"result":10303,"desc":"xxx","invalidUser":{"status":2,"userid":"1"}}`}, offlinepush.KindTokenInvalid, "10303", 0, 0},
		{"invalid user not a test device", answer{body: `{"result":10303,"desc":"xxx","invalidUser":{"status":4,"userid":"1"}}`}, offlinepush.KindPayload, "10303", 0, 0},
		{"total quota", answer{body: `{"result":10070,"desc":"发送总量超出限制"}`}, offlinepush.KindQuota, "10070", 0, 0},
		{"outside hours", answer{body: `{"result":10071,"desc":"发送超出时间限制"}`}, offlinepush.KindQuota, "10071", 0, 0},
		{"system quota", answer{body: `{"result":10073,"desc":"系统消息总量超出"}`}, offlinepush.KindQuota, "10073", 0, 0},
		{"too fast", answer{body: `{"result":10072,"desc":"发送速度过快"}`}, offlinepush.KindRetry, "10072", 0, 0},
		{"appId mismatch", answer{body: `{"result":10094,"desc":"appId不一致"}`}, offlinepush.KindAuth, "10094", 0, 0},
		{"title too long", answer{body: `{"result":10055,"desc":"title不合法"}`}, offlinepush.KindPayload, "10055", 0, 0},
		{"result as a string", answer{body: `{"result":"10302","desc":"regId不合法"}`}, offlinepush.KindTokenInvalid, "10302", 0, 0},
		{"HTTP 500", answer{status: 500, header: map[string]string{"Retry-After": "30"}, body: "Internet server error!"}, offlinepush.KindRetry, "", 500, 30 * time.Second},
		{"HTTP 429", answer{status: 429, header: map[string]string{"Retry-After": "5"}}, offlinepush.KindRetry, "", 429, 5 * time.Second},
		{"HTTP 403", answer{status: 403}, offlinepush.KindAuth, "", 403, 0},
		{"HTTP 400", answer{status: 400}, offlinepush.KindPayload, "", 400, 0},
		{"not JSON", answer{body: "<html>gateway</html>"}, offlinepush.KindRetry, "malformed_answer", 0, 0},
	}
	f := newFake(t)
	c := f.client(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.script(tt.answer)
			err := c.Send(context.Background(), &offlinepush.Notification{Token: "1", Title: "t", Body: "b"})
			var e *offlinepush.Error
			if !errors.As(err, &e) {
				t.Fatalf("Send: %v, want an *offlinepush.Error", err)
			}
			if e.Vendor != "vivo" || e.Kind != tt.kind || e.Code != tt.code || e.Status != tt.status || e.RetryAfter != tt.retryAfter {
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
		{"auth failed", answer{body: `{"result":10000,"desc":"权限认证失败"}`}, offlinepush.KindAuth, "10000"},
		{"bad parameter", answer{body: `{"result":10050,"desc":"appKey不合法"}`}, offlinepush.KindAuth, "10050"},
		{"HTTP 500", answer{status: 500, body: "Internet server error!"}, offlinepush.KindRetry, ""},
		{"no token", answer{body: `{"result":0,"desc":"请求成功"}`}, offlinepush.KindRetry, "malformed_answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.set(func(f *fakeVivo) { f.authAnswer = &tt.answer })
			c := f.client(t, Config{})
			err := c.Send(context.Background(), &offlinepush.Notification{Token: "1", Title: "t", Body: "b"})
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

func TestWrongCredentials(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	c.cfg.AppKey = "not-the-key" // the fake answers as vivo does
	err := c.Send(context.Background(), &offlinepush.Notification{Token: "1", Title: "t", Body: "b"})
	if offlinepush.KindOf(err) != offlinepush.KindAuth {
		t.Errorf("wrong appKey: %v", err)
	}
}

func TestNetworkAndContextErrors(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	n := &offlinepush.Notification{Token: "1", Title: "t", Body: "b"}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Send(ctx, n)
	var e *offlinepush.Error
	if !errors.As(err, &e) || e.Kind != offlinepush.KindRetry || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}

	f.srv.Close()
	if err := c.Send(context.Background(), n); !errors.As(err, &e) || e.Kind != offlinepush.KindRetry {
		t.Errorf("server gone: %v", err)
	}
}
