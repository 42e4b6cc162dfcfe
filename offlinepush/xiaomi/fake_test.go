package xiaomi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

const (
	testSecret  = "bm90LWEtcmVhbC1zZWNyZXQ="
	testPackage = "com.example.loft"
	// badRegID is a registration ID the fake does not know.
	badRegID = "unknown-regid"
)

// fakeMiPush is MiPush's /v3/message/regid as Xiaomi's documentation
// describes it: it checks each request the way MiPush would and answers with
// MiPush's bodies. Tests script failures through reply.
type fakeMiPush struct {
	t   testing.TB
	srv *httptest.Server

	mu    sync.Mutex
	calls int
	forms []url.Values
	hook  func(w http.ResponseWriter) bool // answers instead when it returns true
}

func newFake(tb testing.TB) *fakeMiPush {
	tb.Helper()
	f := &fakeMiPush{t: tb}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.srv.Close)
	return f
}

func (f *fakeMiPush) client(tb testing.TB, mod ...func(*Config)) *Client {
	tb.Helper()
	cfg := Config{
		AppSecret:   testSecret,
		PackageName: testPackage,
		ChannelID:   "loft_messages",
		BaseURL:     f.srv.URL,
		HTTPClient:  f.srv.Client(),
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func (f *fakeMiPush) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	if r.Method != http.MethodPost || r.URL.Path != "/v3/message/regid" {
		f.t.Errorf("%s %s, want POST /v3/message/regid", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		f.t.Errorf("Content-Type %q", ct)
	}
	raw, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		f.t.Errorf("body is not a form: %v", err)
	}
	f.mu.Lock()
	f.calls++
	f.forms = append(f.forms, form)
	hook := f.hook
	f.mu.Unlock()

	if r.Header.Get("Authorization") != "key="+testSecret {
		io.WriteString(w, `{"result":"error","reason":"Authentication failed","trace_id":"Xcm1","code":21301,"description":"认证失败"}`)
		return
	}
	f.check(form)
	if hook != nil && hook(w) {
		return
	}
	if form.Get("registration_id") == badRegID {
		io.WriteString(w, `{"result":"error","reason":"No valid targets!","trace_id":"Xcm2","code":20301,"description":"发送消息失败"}`)
		return
	}
	io.WriteString(w, `{"result":"ok","trace_id":"Xcm3","code":0,"data":{"id":"scm0100000000001"},"description":"成功","info":"Received push messages for 1 REGID"}`)
}

// check validates the fields as MiPush documents them.
func (f *fakeMiPush) check(form url.Values) {
	f.t.Helper()
	if form.Get("registration_id") == "" {
		f.t.Error("registration_id missing")
	}
	if got := form.Get("restricted_package_name"); got != testPackage {
		f.t.Errorf("restricted_package_name %q", got)
	}
	if p := form.Get("payload"); utf8.RuneCountInString(p) >= 4096 {
		f.t.Errorf("payload has %d characters, want < 4K", utf8.RuneCountInString(p))
	}
	if v := form.Get("time_to_live"); v != "" {
		if ms, err := strconv.ParseInt(v, 10, 64); err != nil || ms < 0 || ms > 14*24*3600*1000 {
			f.t.Errorf("time_to_live %q, want ms up to two weeks", v)
		}
	}
	switch form.Get("pass_through") {
	case "1":
	case "0":
		for field, limit := range map[string]int{"title": 50, "description": 128} {
			v := form.Get(field)
			if strings.TrimSpace(v) == "" || utf8.RuneCountInString(v) >= limit || !utf8.ValidString(v) {
				f.t.Errorf("%s %q: want non-blank and under %d characters", field, v, limit)
			}
		}
		if _, err := strconv.Atoi(form.Get("notify_type")); err != nil {
			f.t.Errorf("notify_type %q", form.Get("notify_type"))
		}
		if v := form.Get("notify_id"); v != "" {
			if id, err := strconv.ParseInt(v, 10, 64); err != nil || id < 0 || id > 2147483647 {
				f.t.Errorf("notify_id %q out of 0..2147483647", v)
			}
		}
	default:
		f.t.Errorf("pass_through %q, want 0 or 1", form.Get("pass_through"))
	}
	extras := 0
	for k, v := range form {
		if strings.HasPrefix(k, "extra.") {
			extras++
			if utf8.RuneCountInString(v[0]) > 1024 {
				f.t.Errorf("%s longer than 1024 characters", k)
			}
		}
	}
	if extras > 10 {
		f.t.Errorf("%d extras, want at most 10", extras)
	}
}

func (f *fakeMiPush) reply(status int, body string, header ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = func(w http.ResponseWriter) bool {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
		return true
	}
}

func (f *fakeMiPush) last() url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.forms) == 0 {
		f.t.Fatal("no request reached the fake")
	}
	return f.forms[len(f.forms)-1]
}
