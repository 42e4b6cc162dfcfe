package honor

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAppID    = "104436234"
	testClientID = "client-abc"
	testSecret   = "s3cret"
)

var ttlFormat = regexp.MustCompile(`^[0-9]+s$`)

// fakeHonor is Honor Push and its token endpoint as Honor's documentation
// describes them: it checks each request the way Honor would and answers
// with Honor's bodies. Tests script failures through the hooks.
type fakeHonor struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	authCalls int
	sendCalls int
	issued    int
	valid     map[string]bool                                   // access tokens Honor accepts
	sends     []map[string]any                                  // decoded send bodies, in order
	raw       [][]byte                                          // raw send bodies, in order
	headers   []http.Header                                     // send request headers, in order
	sendHook  func(w http.ResponseWriter, r *http.Request) bool // answers instead when it returns true
	authHook  func(w http.ResponseWriter) bool
	expiresIn int
}

func newFake(tb testing.TB) *fakeHonor {
	tb.Helper()
	f := &fakeHonor{t: tb, valid: map[string]bool{}, expiresIn: 3600}
	mux := http.NewServeMux()
	mux.HandleFunc("/auth/token", f.token)
	mux.HandleFunc("/api/v1/", f.send)
	f.srv = httptest.NewServer(mux)
	tb.Cleanup(f.srv.Close)
	return f
}

// client returns a Client pointed at the fake, with the given clock.
func (f *fakeHonor) client(tb testing.TB, now func() time.Time, mod ...func(*Config)) *Client {
	tb.Helper()
	cfg := Config{
		AppID:        testAppID,
		ClientID:     testClientID,
		ClientSecret: testSecret,
		BadgeClass:   "com.example.loft.MainActivity",
		BaseURL:      f.srv.URL,
		AuthURL:      f.srv.URL + "/auth/token",
		HTTPClient:   f.srv.Client(),
		Now:          now,
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

func (f *fakeHonor) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.authCalls++
	hook := f.authHook
	f.mu.Unlock()
	if r.Method != http.MethodPost {
		f.t.Errorf("token: method %s, want POST", r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		f.t.Errorf("token: Content-Type %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("token: form: %v", err)
	}
	if hook != nil && hook(w) {
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("client_id") != testClientID ||
		r.PostForm.Get("client_secret") != testSecret {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}`)
		return
	}
	f.mu.Lock()
	f.issued++
	tok := fmt.Sprintf("eyJhbGciOi-%d", f.issued)
	f.valid[tok] = true
	exp := f.expiresIn
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	fmt.Fprintf(w, `{"access_token":%q,"expires_in":%d,"token_type":"Bearer"}`, tok, exp)
}

// expireAll makes Honor forget every issued access token.
func (f *fakeHonor) expireAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.valid)
}

func (f *fakeHonor) send(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.sendCalls++
	f.raw = append(f.raw, raw)
	f.headers = append(f.headers, r.Header.Clone())
	hook := f.sendHook
	tokOK := f.valid[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/"+testAppID+"/sendMessage" {
		f.t.Errorf("send: %s %s", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.t.Errorf("send: Content-Type %q", ct)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") || !tokOK {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"code":80200003,"message":"token expired"}`)
		return
	}
	if ts, err := strconv.ParseInt(r.Header.Get("timestamp"), 10, 64); err != nil || ts < 1e12 {
		f.t.Errorf("send: timestamp header %q, want Unix milliseconds", r.Header.Get("timestamp"))
	}
	body, size := f.check(raw)
	f.mu.Lock()
	f.sends = append(f.sends, body)
	f.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	if size > MaxMessageSize {
		io.WriteString(w, `{"code":80300008,"message":"The message body size exceeds the default value"}`)
		return
	}
	io.WriteString(w, `{"code":200,"message":"success","data":{"sendResult":true,"requestId":"16918806721460000001","failTokens":[],"expireTokens":[]}}`)
}

// check validates the body's structure and field types as Honor documents
// them and returns it decoded, with its size without tokens.
func (f *fakeHonor) check(raw []byte) (map[string]any, int) {
	f.t.Helper()
	var body map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		f.t.Errorf("send: body is not JSON: %v", err)
		return nil, 0
	}
	for _, k := range []string{"message", "validate_only"} {
		if _, ok := body[k]; ok {
			f.t.Errorf("send: Huawei's %q in an Honor request", k)
		}
	}
	if strings.Contains(string(raw), "click_action") || strings.Contains(string(raw), "set_num") {
		f.t.Errorf("send: snake_case field in an Honor request: %s", raw)
	}
	toks, ok := body["token"].([]any)
	if !ok || len(toks) != 1 {
		f.t.Errorf("send: token = %v, want one token", body["token"])
	}
	size := len(raw) - len(`,"token":[]`)
	for _, t := range toks {
		s, ok := t.(string)
		if !ok {
			f.t.Errorf("send: token %v is not a string", t)
		}
		q, _ := json.Marshal(s)
		size -= len(q)
	}
	if d, ok := body["data"].(string); ok {
		var m map[string]string
		if err := json.Unmarshal([]byte(d), &m); err != nil {
			f.t.Errorf("send: data %q is not a JSON object of strings: %v", d, err)
		}
	} else if body["data"] != nil {
		f.t.Errorf("send: data is %T, want string", body["data"])
	}
	if a, ok := body["android"].(map[string]any); ok {
		if v, ok := a["ttl"]; ok {
			if s, ok := v.(string); !ok || !ttlFormat.MatchString(s) {
				f.t.Errorf("send: android.ttl %v, want \"<seconds>s\"", v)
			}
		}
		if n, ok := a["notification"].(map[string]any); ok {
			for _, k := range []string{"title", "body"} {
				if s, ok := n[k].(string); !ok || s == "" {
					f.t.Errorf("send: android.notification.%s = %v, want a non-empty string", k, n[k])
				}
			}
			ca, ok := n["clickAction"].(map[string]any)
			if !ok || ca["type"] != json.Number("3") {
				f.t.Errorf("send: android.notification.clickAction = %v, want type 3", n["clickAction"])
			}
			if imp := n["importance"]; imp != "NORMAL" && imp != "LOW" {
				f.t.Errorf("send: android.notification.importance %v", imp)
			}
			if b, ok := n["badge"].(map[string]any); ok {
				if _, ok := b["badgeClass"].(string); !ok {
					f.t.Errorf("send: badge.badgeClass missing")
				}
				if num, ok := b["setNum"].(json.Number); ok {
					if v, _ := num.Int64(); v < 0 || v > 99 {
						f.t.Errorf("send: badge.setNum %v out of 0..99", v)
					}
				}
			}
		}
	}
	return body, size
}

// reply sets the answer to every send.
func (f *fakeHonor) reply(status int, body string, header ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sendHook = func(w http.ResponseWriter, _ *http.Request) bool {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
		return true
	}
}

func (f *fakeHonor) counts() (auth, send int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.authCalls, f.sendCalls
}

func (f *fakeHonor) lastSend() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sends) == 0 {
		f.t.Fatal("no send reached the fake")
	}
	return f.sends[len(f.sends)-1]
}

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// path digs a value out of a decoded body: path(b, "android", "ttl").
func path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
