package meizu

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

const pushID = "J0476035d625e6c64567f71487e040e7d017f0558675b"

func loftData() map[string]string {
	return map[string]string{"conv": "c-17", "seq": "42", "msg_id": "m-9001"}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no app id", Config{AppSecret: "s"}, "AppID"},
		{"no app secret", Config{AppID: "1"}, "AppSecret"},
		{"bad base URL", Config{AppID: "1", AppSecret: "s", BaseURL: "server-api-push.meizu.com"}, "bad URL"},
		{"defaults", Config{AppID: "1", AppSecret: "s"}, ""},
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
			if c.Name() != "meizu" {
				t.Errorf("Name() = %q", c.Name())
			}
			if c.notifyURL != "https://server-api-push.meizu.com/garcia/api/server/push/varnished/pushByPushId" ||
				c.passThroughURL != "https://server-api-push.meizu.com/garcia/api/server/push/unvarnished/pushByPushId" {
				t.Errorf("URLs %q %q", c.notifyURL, c.passThroughURL)
			}
			if c.cfg.HTTPClient == nil || c.cfg.HTTPClient.Timeout == 0 {
				t.Error("no default HTTP client with a timeout")
			}
		})
	}
}

// TestSignMatchesMeizuExample checks sign against the example in Meizu's
// API document (接口签名规范).
func TestSignMatchesMeizuExample(t *testing.T) {
	params := map[string]string{
		"appId":       "10000",
		"pushIds":     "RA50c6348036344485d01776773577c64740465480a6b",
		"messageJson": `{"title":"title","content":"content","pushTimeInfo":{"offLine":1,"validTime":24}}`,
	}
	if got := sign(params, "<APP_SECRET>"); got != "ac076ff25d9900015a681cb5172aa53b" {
		t.Errorf("sign = %s, want Meizu's ac076ff25d9900015a681cb5172aa53b", got)
	}
}

func TestSendMapsNotification(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	data := loftData()
	data["sender"] = "alice"
	n := &offlinepush.Notification{
		Token: pushID, Title: "Alice", Body: "lunch at noon?", Data: data,
		CollapseKey: "c-17", TTL: 90 * time.Minute, High: true,
	}
	if err := c.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	p := f.lastPush(t)
	if p.path != varnishedPath || p.pushIDs != pushID {
		t.Fatalf("pushed to %s for %q", p.path, p.pushIDs)
	}
	want := []struct {
		path []string
		v    any
	}{
		{[]string{"noticeBarInfo", "title"}, "Alice"},
		{[]string{"noticeBarInfo", "content"}, "lunch at noon?"},
		{[]string{"clickTypeInfo", "clickType"}, json.Number("0")},
		{[]string{"pushTimeInfo", "offLine"}, json.Number("1")},
		{[]string{"pushTimeInfo", "validTime"}, json.Number("2")}, // 90 min, rounded up
		{[]string{"advanceInfo", "suspend"}, json.Number("1")},
		{[]string{"advanceInfo", "notifyKey"}, notifyKey("c-17")},
	}
	for _, w := range want {
		if got := field(p.message, w.path...); got != w.v {
			t.Errorf("%s = %#v, want %#v", strings.Join(w.path, "."), got, w.v)
		}
	}
	params, _ := field(p.message, "clickTypeInfo", "parameters").(map[string]any)
	if len(params) != len(data) {
		t.Errorf("parameters %v, want %v", params, data)
	}
	for k, v := range data {
		if params[k] != v {
			t.Errorf("parameters[%s] = %v, want %q", k, params[k], v)
		}
	}

	// Normal priority: no banner; another conversation: another key.
	n2 := *n
	n2.High, n2.CollapseKey = false, "c-18"
	if err := c.Send(context.Background(), &n2); err != nil {
		t.Fatal(err)
	}
	p = f.lastPush(t)
	if field(p.message, "advanceInfo", "suspend") != json.Number("0") {
		t.Errorf("suspend %v without High", field(p.message, "advanceInfo", "suspend"))
	}
	if k := field(p.message, "advanceInfo", "notifyKey"); k == notifyKey("c-17") || k == nil {
		t.Errorf("notifyKey %v for another conversation", k)
	}
}

func TestSendTTLAndDefaults(t *testing.T) {
	tests := []struct {
		name  string
		n     offlinepush.Notification
		path  []string
		want  any
		empty bool // want the field absent
	}{
		{"no TTL is Meizu's 24 h", offlinepush.Notification{Title: "t", Body: "b"}, []string{"pushTimeInfo", "validTime"}, json.Number("24"), false},
		{"a minute is an hour", offlinepush.Notification{Title: "t", Body: "b", TTL: time.Minute}, []string{"pushTimeInfo", "validTime"}, json.Number("1"), false},
		{"a month is 72 h", offlinepush.Notification{Title: "t", Body: "b", TTL: 30 * 24 * time.Hour}, []string{"pushTimeInfo", "validTime"}, json.Number("72"), false},
		{"body without title", offlinepush.Notification{Body: "b"}, []string{"noticeBarInfo", "title"}, "New message", false},
		{"title without body", offlinepush.Notification{Title: "t"}, []string{"noticeBarInfo", "content"}, "t", false},
		{"no collapse key", offlinepush.Notification{Title: "t", Body: "b"}, []string{"advanceInfo", "notifyKey"}, nil, true},
		{"no data", offlinepush.Notification{Title: "t", Body: "b"}, []string{"clickTypeInfo", "parameters"}, nil, true},
	}
	f := newFake(t)
	c := f.client(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.n.Token = pushID
			if err := c.Send(context.Background(), &tt.n); err != nil {
				t.Fatal(err)
			}
			got := field(f.lastPush(t).message, tt.path...)
			if tt.empty && got != nil || !tt.empty && got != tt.want {
				t.Errorf("%s = %#v, want %#v", strings.Join(tt.path, "."), got, tt.want)
			}
		})
	}
}

func TestSilentIsPassThrough(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	for _, n := range []*offlinepush.Notification{
		{Token: pushID, Title: "Alice", Body: "hi", Silent: true, Data: loftData(), TTL: 3 * time.Hour},
		{Token: pushID, Data: loftData(), TTL: 3 * time.Hour},
	} {
		if err := c.Send(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		p := f.lastPush(t)
		if p.path != unvarnishedPath {
			t.Fatalf("silent push went to %s", p.path)
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(p.message["content"].(string)), &got); err != nil || len(got) != 3 || got["msg_id"] != "m-9001" {
			t.Errorf("content %q, want the Data as JSON (%v)", p.message["content"], err)
		}
		if _, ok := p.message["title"]; ok {
			t.Errorf("a silent push shows a title: %v", p.message["title"])
		}
		if field(p.message, "pushTimeInfo", "validTime") != json.Number("3") {
			t.Errorf("validTime %v", field(p.message, "pushTimeInfo", "validTime"))
		}
	}
	if err := c.Send(context.Background(), &offlinepush.Notification{Token: pushID, Silent: true}); err != nil {
		t.Fatalf("silent push without data: %v", err)
	}
	if p := f.lastPush(t); p.message["content"] != "{}" {
		t.Errorf("content %q without data", p.message["content"])
	}
}

func TestSendCutsToMeizuLimits(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	data := loftData()
	data["big"] = strings.Repeat("z", 3000)
	tests := []struct {
		name, title, body string
	}{
		{"ascii", strings.Repeat("T", 200), strings.Repeat("x", 10*1024)},
		{"chinese", strings.Repeat("标题", 100), strings.Repeat("消息内容", 2560)},
		{"emoji", strings.Repeat("🎉", 80), strings.Repeat("👍🏽", 3000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &offlinepush.Notification{Token: pushID, Title: tt.title, Body: tt.body, Data: data}
			if err := c.Send(context.Background(), n); err != nil {
				t.Fatal(err) // the fake refuses anything over Meizu's limits
			}
			msg := f.lastPush(t).message
			for field, limit := range map[string]int{"title": 32, "content": 100} {
				s := msg["noticeBarInfo"].(map[string]any)[field].(string)
				if !utf8.ValidString(s) || !strings.HasSuffix(s, "…") || utf8.RuneCountInString(s) > limit || utf8.RuneCountInString(s) < limit/2 {
					t.Errorf("%s cut to %q", field, s)
				}
			}
			params := msg["clickTypeInfo"].(map[string]any)["parameters"].(map[string]any)
			if _, ok := params["big"]; ok {
				t.Error("a 3000-byte value in the parameters")
			}
			for k, v := range loftData() {
				if params[k] != v {
					t.Errorf("Loft key %s lost: %v", k, params)
				}
			}
		})
	}
	// A silent push's Data fits in 2000 bytes too.
	if err := c.Send(context.Background(), &offlinepush.Notification{Token: pushID, Silent: true, Data: data}); err != nil {
		t.Fatal(err)
	}
	if content := f.lastPush(t).message["content"].(string); len(content) > 2000 || !strings.Contains(content, `"msg_id":"m-9001"`) {
		t.Errorf("pass-through content %d bytes: %.80s", len(content), content)
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
		{"ab🎉cd", 4, "ab…"},
		{"abcdé", 4, "abc…"},
	}
	for _, tt := range tests {
		if got := cut(tt.in, tt.limit); got != tt.want {
			t.Errorf("cut(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
}

func TestConcurrentSends(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			errs <- c.Send(context.Background(), &offlinepush.Notification{Token: pushID, Title: "t", Body: "b", Data: loftData()})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := f.count(); n != 16 {
		t.Errorf("%d pushes, want 16", n)
	}
}

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		name       string
		reply      reply
		kind       offlinepush.ErrorKind
		code       string
		status     int
		retryAfter time.Duration
	}{
		{"pushId unsubscribed", reply{body: `{"code":"200","message":"","value":{"110002":["` + pushID + `"]},"msgId":"c2ee"}`}, offlinepush.KindTokenInvalid, "110002", 0, 0},
		{"pushId invalid", reply{body: `{"code":"200","message":"","value":{"110003":["` + pushID + `"]},"msgId":"c2ee"}`}, offlinepush.KindTokenInvalid, "110003", 0, 0},
		{"no permission", reply{body: `{"code":"200","message":"","value":{"201":["` + pushID + `"]}}`}, offlinepush.KindAuth, "201", 0, 0},
		{"overloaded", reply{body: `{"code":"200","message":"","value":{"519":["` + pushID + `"]}}`}, offlinepush.KindRetry, "519", 0, 0},
		{"folded", reply{body: `{"code":"200","message":"","value":{"520":["` + pushID + `"]}}`}, offlinepush.KindRetry, "520", 0, time.Minute},
		{"empty value list", reply{body: `{"code":"200","message":"","value":{"110002":[]}}`}, 0, "", 0, 0},
		{"value as a string", reply{body: `{"code":"200","message":"","value":"","redirect":""}`}, 0, "", 0, 0},
		{"system error", reply{body: `{"code":"1001","message":"系统错误","value":"","redirect":""}`}, offlinepush.KindRetry, "1001", 0, 0},
		{"server busy", reply{body: `{"code":"1003","message":"服务器忙","value":"","redirect":""}`}, offlinepush.KindRetry, "1003", 0, 0},
		{"other error", reply{body: `{"code":"500","message":"其他异常","value":""}`}, offlinepush.KindRetry, "500", 0, 0},
		{"too fast", reply{header: map[string]string{"Retry-After": "2"}, body: `{"code":"110010","message":"应用请求频率超过限制","value":"","redirect":""}`}, offlinepush.KindRetry, "110010", 0, 2 * time.Second},
		{"parameter error", reply{body: `{"code":"1005","message":"参数错误","value":""}`}, offlinepush.KindPayload, "1005", 0, 0},
		{"parameter empty", reply{body: `{"code":"110004","message":"参数不能为空","value":""}`}, offlinepush.KindPayload, "110004", 0, 0},
		{"signature", reply{body: `{"code":"1006","message":"签名认证失败","value":""}`}, offlinepush.KindAuth, "1006", 0, 0},
		{"app id", reply{body: `{"code":"110000","message":"appId不合法","value":""}`}, offlinepush.KindAuth, "110000", 0, 0},
		{"black list", reply{body: `{"code":110009,"message":"应用被加入黑名单","value":""}`}, offlinepush.KindAuth, "110009", 0, 0},
		{"pass-through limit", reply{body: `{"code":"110053","message":"透传超过限制","value":""}`}, offlinepush.KindQuota, "110053", 0, 0},
		{"HTTP 503", reply{status: 503, header: map[string]string{"Retry-After": "30"}}, offlinepush.KindRetry, "", 503, 30 * time.Second},
		{"HTTP 404", reply{status: 404}, offlinepush.KindAuth, "", 404, 0},
		{"HTTP 400", reply{status: 400}, offlinepush.KindPayload, "", 400, 0},
		{"not JSON", reply{body: "<html>gateway</html>"}, offlinepush.KindRetry, "malformed_answer", 0, 0},
	}
	f := newFake(t)
	c := f.client(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.script(tt.reply)
			err := c.Send(context.Background(), &offlinepush.Notification{Token: pushID, Title: "t", Body: "b"})
			if tt.kind == 0 {
				if err != nil {
					t.Fatalf("Send: %v, want success", err)
				}
				return
			}
			var e *offlinepush.Error
			if !errors.As(err, &e) {
				t.Fatalf("Send: %v, want an *offlinepush.Error", err)
			}
			if e.Vendor != "meizu" || e.Kind != tt.kind || e.Code != tt.code || e.Status != tt.status || e.RetryAfter != tt.retryAfter {
				t.Errorf("got %+v, want kind %v code %q status %d retry after %v", e, tt.kind, tt.code, tt.status, tt.retryAfter)
			}
		})
	}
}

func TestWrongCredentials(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	c.cfg.AppID = "100998" // signed right, but not the fake's app
	if err := c.Send(context.Background(), &offlinepush.Notification{Token: pushID, Title: "t", Body: "b"}); offlinepush.KindOf(err) != offlinepush.KindAuth {
		t.Errorf("wrong appId: %v", err)
	}
}

func TestNetworkAndContextErrors(t *testing.T) {
	f := newFake(t)
	c := f.client(t, Config{})
	n := &offlinepush.Notification{Token: pushID, Title: "t", Body: "b"}

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
	if err := c.Send(context.Background(), &offlinepush.Notification{Title: "t"}); offlinepush.KindOf(err) != offlinepush.KindTokenInvalid {
		t.Errorf("empty token: %v", err)
	}
}
