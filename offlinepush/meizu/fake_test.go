package meizu

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// fakeMeizu is an httptest server that speaks Meizu Push's server API: it
// checks each request the way Meizu documents it (signature included) and
// answers with Meizu's bodies.
type fakeMeizu struct {
	t      testing.TB
	srv    *httptest.Server
	appID  string
	secret string

	mu sync.Mutex
	// answers are answered to pushes in turn, then success; guarded by mu.
	answers []reply
	// pushes records each well-formed, well-signed push; guarded by mu.
	pushes []pushed
}

type reply struct {
	status int
	header map[string]string
	body   string
}

type pushed struct {
	path    string
	pushIDs string
	message map[string]any
}

func newFake(tb testing.TB) *fakeMeizu {
	tb.Helper()
	f := &fakeMeizu{t: tb, appID: "100999", secret: "meizu-app-secret"}
	mux := http.NewServeMux()
	mux.HandleFunc(varnishedPath, f.push)
	mux.HandleFunc(unvarnishedPath, f.push)
	f.srv = httptest.NewServer(mux)
	tb.Cleanup(f.srv.Close)
	return f
}

// client returns a Client pointed at the fake with cfg's other fields.
func (f *fakeMeizu) client(tb testing.TB, cfg Config) *Client {
	tb.Helper()
	cfg.AppID, cfg.AppSecret = f.appID, f.secret
	cfg.BaseURL = f.srv.URL
	cfg.HTTPClient = f.srv.Client()
	c, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.srv.Client().CloseIdleConnections)
	return c
}

func (f *fakeMeizu) errorf(format string, args ...any) {
	f.t.Helper()
	f.t.Errorf("fake Meizu: "+format, args...)
}

func write(w http.ResponseWriter, r reply) {
	for k, v := range r.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	if r.status == 0 {
		r.status = http.StatusOK
	}
	w.WriteHeader(r.status)
	fmt.Fprint(w, r.body)
}

func (f *fakeMeizu) push(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		f.errorf("%s %s, want POST", r.Method, r.URL.Path)
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		f.errorf("Content-Type %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		f.errorf("form: %v", err)
		return
	}
	var names []string
	for k, v := range r.PostForm {
		if len(v) != 1 {
			f.errorf("parameter %s given %d times", k, len(v))
		}
		names = append(names, k)
	}
	sort.Strings(names)
	if got := strings.Join(names, ","); got != "appId,messageJson,pushIds,sign" {
		f.errorf("parameters %s", got)
	}
	// Meizu's signature: every parameter but sign, sorted, name=value
	// concatenated raw (not URL-encoded), then the app secret.
	var base strings.Builder
	for _, k := range names {
		if k != "sign" {
			base.WriteString(k + "=" + r.PostForm.Get(k))
		}
	}
	sum := md5.Sum([]byte(base.String() + f.secret))
	if r.PostForm.Get("sign") != hex.EncodeToString(sum[:]) {
		f.errorf("sign %q does not match", r.PostForm.Get("sign"))
		write(w, reply{body: `{"code":"1006","message":"签名认证失败","value":"","redirect":""}`})
		return
	}
	if r.PostForm.Get("appId") != f.appID {
		write(w, reply{body: `{"code":"110000","message":"appId不合法","value":"","redirect":""}`})
		return
	}
	dec := json.NewDecoder(strings.NewReader(r.PostForm.Get("messageJson")))
	dec.UseNumber()
	var msg map[string]any
	if err := dec.Decode(&msg); err != nil {
		f.errorf("messageJson: %v", err)
		write(w, reply{body: `{"code":"1005","message":"参数错误","value":"","redirect":""}`})
		return
	}
	var problem string
	if r.URL.Path == varnishedPath {
		problem = checkNotification(msg)
	} else {
		problem = checkPassThrough(msg)
	}
	if problem != "" {
		f.errorf("%s", problem)
		write(w, reply{body: `{"code":"1005","message":"` + problem + `","value":"","redirect":""}`})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pushes = append(f.pushes, pushed{path: r.URL.Path, pushIDs: r.PostForm.Get("pushIds"), message: msg})
	if len(f.answers) > 0 {
		a := f.answers[0]
		f.answers = f.answers[1:]
		write(w, a)
		return
	}
	write(w, reply{body: `{"code":"200","message":"","msgId":"c2ee5c3bf00448cfbceb7fdf68c3c8eb","value":{}}`})
}

// shape describes a JSON object: each field's type, "object" fields by
// their own shape.
type shape map[string]any

var notificationShape = shape{
	"noticeBarInfo":    shape{"noticeBarType": "number", "title": "string", "content": "string"},
	"noticeExpandInfo": shape{"noticeExpandType": "number", "noticeExpandContent": "string"},
	"clickTypeInfo":    shape{"clickType": "number", "url": "string", "parameters": "object", "activity": "string", "customAttribute": "string"},
	"pushTimeInfo":     shape{"offLine": "number", "validTime": "number"},
	"advanceInfo": shape{"suspend": "number", "clearNoticeBar": "number", "fixDisplay": "number",
		"notificationType": shape{"vibrate": "number", "lights": "number", "sound": "number"}, "notifyKey": "string"},
	"extra": "object",
}

var passThroughShape = shape{
	"title": "string", "content": "string",
	"pushTimeInfo": shape{"offLine": "number", "validTime": "number"},
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "bool"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// checkShape checks that m has only fields of s, of s's types.
func checkShape(path string, m map[string]any, s shape) string {
	for k, v := range m {
		want, ok := s[k]
		if !ok {
			return "unknown field " + path + k
		}
		if sub, isShape := want.(shape); isShape {
			obj, isObj := v.(map[string]any)
			if !isObj {
				return path + k + " is not an object"
			}
			if p := checkShape(path+k+".", obj, sub); p != "" {
				return p
			}
			continue
		}
		if got := jsonType(v); got != want {
			return fmt.Sprintf("%s%s is %s, want %s", path, k, got, want)
		}
	}
	return ""
}

func checkValidTime(msg map[string]any) string {
	pt, _ := msg["pushTimeInfo"].(map[string]any)
	if pt["offLine"] == json.Number("1") {
		v, _ := pt["validTime"].(json.Number)
		if n, err := v.Int64(); err != nil || n < 1 || n > 72 {
			return "validTime must be 1-72 hours with offLine 1"
		}
	}
	return ""
}

// checkNotification checks a varnished messageJson as Meizu does.
func checkNotification(msg map[string]any) string {
	if p := checkShape("", msg, notificationShape); p != "" {
		return p
	}
	bar, _ := msg["noticeBarInfo"].(map[string]any)
	title, _ := bar["title"].(string)
	content, _ := bar["content"].(string)
	switch n := utf8.RuneCountInString(title); {
	case n < 1 || n > 32:
		return "title must be 1-32 characters"
	}
	switch n := utf8.RuneCountInString(content); {
	case n < 1 || n > 100:
		return "content must be 1-100 characters"
	}
	adv, _ := msg["advanceInfo"].(map[string]any)
	if key, ok := adv["notifyKey"].(string); ok {
		if len(key) > 8 || strings.Trim(key, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-") != "" {
			return "notifyKey must be at most 8 of [0-9a-zA-Z_-]"
		}
	}
	if params, ok := msg["clickTypeInfo"].(map[string]any)["parameters"].(map[string]any); ok {
		for k, v := range params {
			if _, isString := v.(string); !isString {
				return "parameters." + k + " is not a string"
			}
		}
	}
	return checkValidTime(msg)
}

// checkPassThrough checks an unvarnished messageJson as Meizu does.
func checkPassThrough(msg map[string]any) string {
	if p := checkShape("", msg, passThroughShape); p != "" {
		return p
	}
	content, _ := msg["content"].(string)
	if content == "" || len(content) > 2000 {
		return "content must be 1-2000 bytes"
	}
	return checkValidTime(msg)
}

// script queues answers to the next pushes.
func (f *fakeMeizu) script(a ...reply) {
	f.mu.Lock()
	f.answers = append(f.answers, a...)
	f.mu.Unlock()
}

func (f *fakeMeizu) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pushes)
}

func (f *fakeMeizu) lastPush(tb testing.TB) pushed {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pushes) == 0 {
		tb.Fatal("no push reached the fake")
	}
	return f.pushes[len(f.pushes)-1]
}

// field walks msg along path.
func field(msg map[string]any, path ...string) any {
	var v any = msg
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}
