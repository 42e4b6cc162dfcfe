package oppo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// fakeOPPO is an httptest server that speaks OPPO PUSH's server API: it
// checks each request the way OPPO documents it and answers with OPPO's
// bodies.
type fakeOPPO struct {
	t      testing.TB
	srv    *httptest.Server
	appKey string
	secret string
	clock  *fakeClock

	mu sync.Mutex
	// authCalls counts auth requests; guarded by mu.
	authCalls int
	// valid holds the auth_tokens the fake accepts; guarded by mu.
	valid map[string]bool
	// issued counts tokens handed out; guarded by mu.
	issued int
	// createTimeAge makes auth answer a create_time that much in the past
	// (a token OPPO issued earlier); guarded by mu.
	createTimeAge time.Duration
	// refuseTokens makes every push answer code 11; guarded by mu.
	refuseTokens bool
	// authAnswer, when set, is answered to every auth request; guarded by mu.
	authAnswer *answer
	// answers are answered to pushes in turn, then success; guarded by mu.
	answers []answer
	// pushes records each push that had a valid token; guarded by mu.
	pushes []pushed
}

type answer struct {
	status int
	header map[string]string
	body   string
}

type pushed struct {
	token   string
	message map[string]any
	notif   map[string]any
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

func newFake(tb testing.TB) *fakeOPPO {
	tb.Helper()
	f := &fakeOPPO{
		t:      tb,
		appKey: "app-key-1",
		secret: "master-secret-1",
		clock:  &fakeClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)},
		valid:  map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc(authPath, f.auth)
	mux.HandleFunc(unicastPath, f.unicast)
	f.srv = httptest.NewServer(mux)
	tb.Cleanup(f.srv.Close)
	return f
}

// client returns a Client pointed at the fake with cfg's other fields.
func (f *fakeOPPO) client(tb testing.TB, cfg Config) *Client {
	tb.Helper()
	cfg.AppKey, cfg.MasterSecret = f.appKey, f.secret
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

func (f *fakeOPPO) errorf(format string, args ...any) {
	f.t.Helper()
	f.t.Errorf("fake OPPO: "+format, args...)
}

// checkForm checks method, content type and that the form has exactly keys.
func (f *fakeOPPO) checkForm(w http.ResponseWriter, r *http.Request, keys ...string) bool {
	f.t.Helper()
	if r.Method != http.MethodPost {
		f.errorf("%s %s, want POST", r.Method, r.URL.Path)
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return false
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		f.errorf("Content-Type %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		f.errorf("form: %v", err)
		return false
	}
	var got []string
	for k := range r.PostForm {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(keys)
	if strings.Join(got, ",") != strings.Join(keys, ",") {
		f.errorf("%s form keys %v, want %v", r.URL.Path, got, keys)
	}
	return true
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

var millis = regexp.MustCompile(`^\d{13}$`)

func (f *fakeOPPO) auth(w http.ResponseWriter, r *http.Request) {
	if !f.checkForm(w, r, "app_key", "sign", "timestamp") {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authCalls++
	key, ts, sign := r.PostForm.Get("app_key"), r.PostForm.Get("timestamp"), r.PostForm.Get("sign")
	sum := sha256.Sum256([]byte(key + ts + f.secret))
	switch {
	case key != f.appKey:
		write(w, answer{body: `{"code":14,"message":"Invalid App Key"}`})
		return
	case !millis.MatchString(ts) || ts != fmt.Sprint(f.clock.Now().UnixMilli()):
		f.errorf("timestamp %q, want the clock's Unix milliseconds", ts)
		write(w, answer{body: `{"code":19,"message":"Invalid Timestamp"}`})
		return
	case sign != hex.EncodeToString(sum[:]):
		f.errorf("sign %q is not sha256(app_key+timestamp+master_secret)", sign)
		write(w, answer{body: `{"code":16,"message":"Invalid Signature"}`})
		return
	}
	if f.authAnswer != nil {
		write(w, *f.authAnswer)
		return
	}
	f.issued++
	token := fmt.Sprintf("token-%d", f.issued)
	f.valid[token] = true
	created := f.clock.Now().Add(-f.createTimeAge).UnixMilli()
	write(w, answer{body: fmt.Sprintf(`{"code":0,"message":"Success","data":{"auth_token":%q,"create_time":%d}}`, token, created)})
}

func (f *fakeOPPO) unicast(w http.ResponseWriter, r *http.Request) {
	if !f.checkForm(w, r, "auth_token", "message") {
		return
	}
	token := r.PostForm.Get("auth_token")
	if h := r.Header.Get("auth_token"); h != token {
		f.errorf("auth_token header %q, form %q", h, token)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.valid[token] || f.refuseTokens {
		write(w, answer{body: `{"code":11,"message":"Invalid AuthToken"}`})
		return
	}
	dec := json.NewDecoder(strings.NewReader(r.PostForm.Get("message")))
	dec.UseNumber()
	var msg map[string]any
	if err := dec.Decode(&msg); err != nil {
		f.errorf("message is not JSON: %v", err)
		write(w, answer{body: `{"code":41,"message":"Invalid Arguments"}`})
		return
	}
	notif, problem := checkMessage(msg)
	if problem != "" {
		f.errorf("%s", problem)
		write(w, answer{body: `{"code":41,"message":"Invalid Arguments: ` + problem + `"}`})
		return
	}
	f.pushes = append(f.pushes, pushed{token: token, message: msg, notif: notif})
	if len(f.answers) > 0 {
		a := f.answers[0]
		f.answers = f.answers[1:]
		write(w, a)
		return
	}
	write(w, answer{body: `{"code":0,"message":"Success","data":{"messageId":"ZngnvJIM7wQusNtbqYnpH6XX-1-1-622ff7cfae27668d2ed3afec"}}`})
}

// notificationFields are the notification fields the adapter may send, with
// their JSON types as OPPO documents them.
var notificationFields = map[string]string{
	"style": "number", "title": "string", "content": "string",
	"click_action_type": "number", "action_parameters": "string",
	"off_line": "bool", "off_line_ttl": "number", "channel_id": "string",
	"category": "string", "notify_level": "number", "notify_id": "number",
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

// checkMessage checks a unicast message as OPPO does, limits included.
func checkMessage(msg map[string]any) (map[string]any, string) {
	if msg["target_type"] != json.Number("2") {
		return nil, fmt.Sprintf("target_type %v, want 2", msg["target_type"])
	}
	if v, ok := msg["target_value"].(string); !ok || v == "" {
		return nil, "target_value missing"
	}
	notif, ok := msg["notification"].(map[string]any)
	if !ok {
		return nil, "notification is not an object"
	}
	if len(msg) != 3 {
		return nil, fmt.Sprintf("message has %d fields, want 3", len(msg))
	}
	for k, v := range notif {
		want, known := notificationFields[k]
		if !known {
			return nil, "unknown notification field " + k
		}
		if got := jsonType(v); got != want {
			return nil, fmt.Sprintf("notification.%s is %s, want %s", k, got, want)
		}
	}
	title, _ := notif["title"].(string)
	content, _ := notif["content"].(string)
	switch {
	case title == "" || content == "":
		return nil, "title and content are required"
	case utf8.RuneCountInString(title) > maxTitle:
		return nil, "title longer than 50"
	case utf8.RuneCountInString(content) > maxContent:
		return nil, "content longer than 50"
	}
	if p, ok := notif["action_parameters"].(string); ok {
		var m map[string]string
		if len(p) > maxParameters {
			return nil, "action_parameters longer than 4000"
		}
		if err := json.Unmarshal([]byte(p), &m); err != nil {
			return nil, "action_parameters is not a JSON object of strings"
		}
	}
	if ttl, ok := notif["off_line_ttl"].(json.Number); ok {
		if n, _ := ttl.Int64(); n < 1 || n > 864000 {
			return nil, "off_line_ttl out of range"
		}
	}
	return notif, ""
}

// script queues answers to the next pushes.
func (f *fakeOPPO) script(a ...answer) {
	f.mu.Lock()
	f.answers = append(f.answers, a...)
	f.mu.Unlock()
}

func (f *fakeOPPO) counts() (auth, pushes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.authCalls, len(f.pushes)
}

func (f *fakeOPPO) lastPush(tb testing.TB) pushed {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pushes) == 0 {
		tb.Fatal("no push reached the fake")
	}
	return f.pushes[len(f.pushes)-1]
}

// revokeTokens makes every token issued so far invalid, as when OPPO
// expires one early.
func (f *fakeOPPO) revokeTokens() {
	f.mu.Lock()
	clear(f.valid)
	f.mu.Unlock()
}

func (f *fakeOPPO) set(fn func(f *fakeOPPO)) {
	f.mu.Lock()
	fn(f)
	f.mu.Unlock()
}

// decodeParams decodes action_parameters.
func decodeParams(tb testing.TB, notif map[string]any) map[string]string {
	tb.Helper()
	var m map[string]string
	p, _ := notif["action_parameters"].(string)
	if err := json.NewDecoder(bytes.NewReader([]byte(p))).Decode(&m); err != nil {
		tb.Fatalf("action_parameters %q: %v", p, err)
	}
	return m
}
