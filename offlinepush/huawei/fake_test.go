package huawei

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAppID  = "104567890"
	testSecret = "s3cret"
)

var ttlFormat = regexp.MustCompile(`^[0-9]+s$`)

// fakeHuawei is Push Kit and Huawei's token endpoint as their documentation
// describes them: it checks each request the way Huawei would and answers
// with Huawei's bodies. Tests script failures through the hooks.
type fakeHuawei struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	authCalls int
	sendCalls int
	issued    int
	valid     map[string]bool                                   // access tokens Huawei accepts
	sends     []map[string]any                                  // decoded send bodies, in order
	raw       [][]byte                                          // raw send bodies, in order
	headers   []http.Header                                     // send request headers, in order
	sendHook  func(w http.ResponseWriter, r *http.Request) bool // answers instead when it returns true
	authHook  func(w http.ResponseWriter) bool
	expiresIn int
}

func newFake(tb testing.TB) *fakeHuawei {
	tb.Helper()
	f := &fakeHuawei{t: tb, valid: map[string]bool{}, expiresIn: 3600}
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/v3/token", f.token)
	mux.HandleFunc("/v1/", f.send)
	f.srv = httptest.NewServer(mux)
	tb.Cleanup(f.srv.Close)
	return f
}

// client returns a Client pointed at the fake, with the given clock.
func (f *fakeHuawei) client(tb testing.TB, now func() time.Time, mod ...func(*Config)) *Client {
	tb.Helper()
	cfg := Config{
		AppID:      testAppID,
		AppSecret:  testSecret,
		BadgeClass: "com.example.loft.MainActivity",
		BaseURL:    f.srv.URL,
		AuthURL:    f.srv.URL + "/oauth2/v3/token",
		HTTPClient: f.srv.Client(),
		Now:        now,
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

func (f *fakeHuawei) token(w http.ResponseWriter, r *http.Request) {
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
	if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("client_id") != testAppID ||
		r.PostForm.Get("client_secret") != testSecret {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"sub_error":20152,"error_description":"invalid client","error":1101}`)
		return
	}
	f.mu.Lock()
	f.issued++
	tok := fmt.Sprintf("CF3Xl2XV6jMK-%d==", f.issued)
	f.valid[tok] = true
	exp := f.expiresIn
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	fmt.Fprintf(w, `{"access_token":%q,"expires_in":%d,"token_type":"Bearer"}`, tok, exp)
}

// expireAll makes Huawei forget every issued access token.
func (f *fakeHuawei) expireAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.valid)
}

func (f *fakeHuawei) send(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.sendCalls++
	f.raw = append(f.raw, raw)
	f.headers = append(f.headers, r.Header.Clone())
	hook := f.sendHook
	tokOK := f.valid[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/v1/"+testAppID+"/messages:send" {
		f.t.Errorf("send: %s %s", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.t.Errorf("send: Content-Type %q", ct)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") || !tokOK {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"code":"80200003","msg":"Oauth Token expired.","requestId":"1"}`)
		return
	}
	body, size := f.check(raw)
	f.mu.Lock()
	f.sends = append(f.sends, body)
	f.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	if size > MaxMessageSize {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"code":"80300008","msg":"The message body size exceeds the default value","requestId":"2"}`)
		return
	}
	io.WriteString(w, `{"code":"80000000","msg":"Success","requestId":"157440000000006"}`)
}

// check validates the body's structure and field types as Push Kit
// documents them and returns it decoded, with its size without tokens.
func (f *fakeHuawei) check(raw []byte) (map[string]any, int) {
	f.t.Helper()
	var body map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		f.t.Errorf("send: body is not JSON: %v", err)
		return nil, 0
	}
	if v, ok := body["validate_only"].(bool); !ok || v {
		f.t.Errorf("send: validate_only = %v, want false", body["validate_only"])
	}
	msg, ok := body["message"].(map[string]any)
	if !ok {
		f.t.Errorf("send: no message object")
		return body, 0
	}
	toks, ok := msg["token"].([]any)
	if !ok || len(toks) != 1 {
		f.t.Errorf("send: message.token = %v, want one token", msg["token"])
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
	if d, ok := msg["data"].(string); ok {
		var m map[string]string
		if err := json.Unmarshal([]byte(d), &m); err != nil {
			f.t.Errorf("send: message.data %q is not a JSON object of strings: %v", d, err)
		}
	} else if msg["data"] != nil {
		f.t.Errorf("send: message.data is %T, want string", msg["data"])
	}
	if a, ok := msg["android"].(map[string]any); ok {
		for _, k := range []string{"urgency", "ttl", "category"} {
			if v, ok := a[k]; ok {
				if _, ok := v.(string); !ok {
					f.t.Errorf("send: android.%s is %T, want string", k, v)
				}
			}
		}
		if ttl, ok := a["ttl"].(string); ok && !ttlFormat.MatchString(ttl) {
			f.t.Errorf("send: android.ttl %q, want \"<seconds>s\"", ttl)
		}
		if u, ok := a["urgency"]; ok && u != "HIGH" && u != "NORMAL" {
			f.t.Errorf("send: android.urgency %v", u)
		}
		if n, ok := a["notification"].(map[string]any); ok {
			for _, k := range []string{"title", "body"} {
				if s, ok := n[k].(string); !ok || s == "" {
					f.t.Errorf("send: android.notification.%s = %v, want a non-empty string", k, n[k])
				}
			}
			ca, ok := n["click_action"].(map[string]any)
			if !ok || ca["type"] != json.Number("3") {
				f.t.Errorf("send: android.notification.click_action = %v, want type 3", n["click_action"])
			}
			if b, ok := n["badge"].(map[string]any); ok {
				if _, ok := b["class"].(string); !ok {
					f.t.Errorf("send: badge.class missing")
				}
				if num, ok := b["set_num"].(json.Number); ok {
					if v, _ := num.Int64(); v < 0 || v > 99 {
						f.t.Errorf("send: badge.set_num %v out of 0..99", v)
					}
				}
			}
		}
	}
	return body, size
}

// reply sets the answer to every send.
func (f *fakeHuawei) reply(status int, body string, header ...string) {
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

func (f *fakeHuawei) counts() (auth, send int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.authCalls, f.sendCalls
}

func (f *fakeHuawei) lastSend() map[string]any {
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

// path digs a value out of a decoded body: path(b, "message", "android", "ttl").
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
