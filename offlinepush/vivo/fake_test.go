package vivo

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
	"time"
)

// fakeVivo is an httptest server that speaks vivo Push's server API: it
// checks each request the way vivo documents it and answers with vivo's
// bodies.
type fakeVivo struct {
	t      testing.TB
	srv    *httptest.Server
	appID  string
	appKey string
	secret string
	clock  *fakeClock

	mu sync.Mutex
	// authCalls counts auth requests; guarded by mu.
	authCalls int
	// valid holds the authTokens the fake accepts; guarded by mu.
	valid map[string]bool
	// issued counts tokens handed out; guarded by mu.
	issued int
	// refuseTokens makes every push answer 10000; guarded by mu.
	refuseTokens bool
	// authAnswer, when set, is answered to every auth request; guarded by mu.
	authAnswer *answer
	// answers are answered to pushes in turn, then success; guarded by mu.
	answers []answer
	// pushes records each push that had a valid token; guarded by mu.
	pushes []map[string]any
	// requestIDs are the requestIds seen; guarded by mu.
	requestIDs map[string]bool
}

type answer struct {
	status int
	header map[string]string
	body   string
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newFake(tb testing.TB) *fakeVivo {
	tb.Helper()
	f := &fakeVivo{
		t:          tb,
		appID:      "10004",
		appKey:     "25509283-3767-4b9e-83fe-b6e55ac6243e",
		secret:     "25509283-3767-4b9e-83fe-b6e55ac6b123",
		clock:      &fakeClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)},
		valid:      map[string]bool{},
		requestIDs: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc(authPath, f.auth)
	mux.HandleFunc(sendPath, f.send)
	f.srv = httptest.NewServer(mux)
	tb.Cleanup(f.srv.Close)
	return f
}

// client returns a Client pointed at the fake with cfg's other fields.
func (f *fakeVivo) client(tb testing.TB, cfg Config) *Client {
	tb.Helper()
	cfg.AppID, cfg.AppKey, cfg.AppSecret = f.appID, f.appKey, f.secret
	cfg.BaseURL = f.srv.URL
	cfg.HTTPClient = f.srv.Client()
	cfg.Now = f.clock.Now
	c, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.srv.Client().CloseIdleConnections)
	return c
}

func (f *fakeVivo) errorf(format string, args ...any) {
	f.t.Helper()
	f.t.Errorf("fake vivo: "+format, args...)
}

// readJSON checks method and content type and decodes the body, keeping
// numbers as json.Number so that their JSON type can be checked.
func (f *fakeVivo) readJSON(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	f.t.Helper()
	if r.Method != http.MethodPost {
		f.errorf("%s %s, want POST", r.Method, r.URL.Path)
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return nil, false
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.errorf("Content-Type %q", ct)
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil {
		f.errorf("body is not a JSON object: %v", err)
		write(w, answer{status: 500, body: "Internet server error!"})
		return nil, false
	}
	return body, true
}

func write(w http.ResponseWriter, a answer) {
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	if a.status == 0 {
		a.status = http.StatusOK
	}
	w.WriteHeader(a.status)
	fmt.Fprint(w, a.body)
}

func keysOf(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func (f *fakeVivo) auth(w http.ResponseWriter, r *http.Request) {
	body, ok := f.readJSON(w, r)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authCalls++
	if got := keysOf(body); got != "appId,appKey,sign,timestamp" {
		f.errorf("auth fields %s", got)
	}
	appID, _ := body["appId"].(string)
	appKey, _ := body["appKey"].(string)
	sign, _ := body["sign"].(string)
	ts, isNumber := body["timestamp"].(json.Number)
	sum := md5.Sum([]byte(appID + appKey + string(ts) + f.secret))
	switch {
	case appID != f.appID || appKey != f.appKey:
		write(w, answer{body: `{"result":10000,"desc":"权限认证失败"}`})
		return
	case !isNumber || string(ts) != fmt.Sprint(f.clock.Now().UnixMilli()):
		f.errorf("timestamp %v, want the clock's Unix milliseconds as a number", body["timestamp"])
		write(w, answer{body: `{"result":10000,"desc":"timestamp不合法"}`})
		return
	case sign != hex.EncodeToString(sum[:]):
		f.errorf("sign %q is not md5(appId+appKey+timestamp+appSecret)", sign)
		write(w, answer{body: `{"result":10000,"desc":"sign不合法"}`})
		return
	}
	if f.authAnswer != nil {
		write(w, *f.authAnswer)
		return
	}
	f.issued++
	token := fmt.Sprintf("token-%d", f.issued)
	f.valid[token] = true
	write(w, answer{body: fmt.Sprintf(`{"result":0,"desc":"请求成功","authToken":%q}`, token)})
}

// sendFields are the fields the adapter may send to /message/send, with
// their JSON types as vivo documents them.
var sendFields = map[string]string{
	"appId": "string", "regId": "string", "notifyType": "number", "title": "string",
	"content": "string", "timeToLive": "number", "skipType": "number",
	"networkType": "number", "classification": "number", "category": "string",
	"pushMode": "number", "notifyId": "number", "clientCustomMap": "object",
	"requestId": "string",
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

// vivoLen counts as vivo does: a Chinese character two, ASCII one.
func vivoLen(s string) int {
	n := 0
	for _, r := range s {
		if r < 0x80 {
			n++
		} else {
			n += 2
		}
	}
	return n
}

// checkSend checks a /message/send body as vivo does, limits included.
func (f *fakeVivo) checkSend(body map[string]any) string {
	for k, v := range body {
		want, known := sendFields[k]
		if !known {
			return "unknown field " + k
		}
		if got := jsonType(v); got != want {
			return fmt.Sprintf("%s is %s, want %s", k, got, want)
		}
	}
	for _, k := range []string{"appId", "regId", "notifyType", "title", "content", "skipType", "requestId"} {
		if _, ok := body[k]; !ok {
			return k + " is required"
		}
	}
	if body["appId"] != f.appID {
		return "appId does not match the token's"
	}
	title, _ := body["title"].(string)
	content, _ := body["content"].(string)
	id, _ := body["requestId"].(string)
	switch {
	case title == "" || content == "":
		return "title and content must not be empty"
	case vivoLen(title) > 40:
		return "title longer than 40"
	case vivoLen(content) > 100:
		return "content longer than 100"
	case id == "" || len(id) > 64:
		return "requestId empty or longer than 64"
	}
	if ttl, ok := body["timeToLive"].(json.Number); ok {
		if n, _ := ttl.Int64(); n < 60 || n > 7*86400 {
			return "timeToLive out of range"
		}
	}
	if m, ok := body["clientCustomMap"].(map[string]any); ok {
		size := 0
		for k, v := range m {
			s, isString := v.(string)
			if !isString {
				return "clientCustomMap value is not a string"
			}
			size += len(k) + len(s)
		}
		if len(m) > 10 || size > 1024 {
			return "clientCustomMap over 10 pairs or 1024 characters"
		}
	}
	return ""
}

func (f *fakeVivo) send(w http.ResponseWriter, r *http.Request) {
	body, ok := f.readJSON(w, r)
	if !ok {
		return
	}
	token := r.Header.Get("authToken")
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.valid[token] || f.refuseTokens {
		write(w, answer{body: `{"result":10000,"desc":"权限认证失败"}`})
		return
	}
	if problem := f.checkSend(body); problem != "" {
		f.errorf("%s", problem)
		write(w, answer{body: `{"result":10055,"desc":"` + problem + `"}`})
		return
	}
	id := body["requestId"].(string)
	if f.requestIDs[id] {
		f.errorf("requestId %s used twice", id)
	}
	f.requestIDs[id] = true
	f.pushes = append(f.pushes, body)
	if len(f.answers) > 0 {
		a := f.answers[0]
		f.answers = f.answers[1:]
		write(w, a)
		return
	}
	write(w, answer{body: `{"result":0,"desc":"请求成功","taskId":"121397329"}`})
}

// script queues answers to the next pushes.
func (f *fakeVivo) script(a ...answer) {
	f.mu.Lock()
	f.answers = append(f.answers, a...)
	f.mu.Unlock()
}

func (f *fakeVivo) counts() (auth, pushes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.authCalls, len(f.pushes)
}

func (f *fakeVivo) lastPush(tb testing.TB) map[string]any {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pushes) == 0 {
		tb.Fatal("no push reached the fake")
	}
	return f.pushes[len(f.pushes)-1]
}

// revokeTokens makes every token issued so far invalid.
func (f *fakeVivo) revokeTokens() {
	f.mu.Lock()
	clear(f.valid)
	f.mu.Unlock()
}

func (f *fakeVivo) set(fn func(f *fakeVivo)) {
	f.mu.Lock()
	fn(f)
	f.mu.Unlock()
}
