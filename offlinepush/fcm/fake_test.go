package fcm

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
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
	testProject = "loft-test"
	testEmail   = "loft-push@loft-test.iam.gserviceaccount.com"
	testKeyID   = "0123456789abcdef0123456789abcdef01234567"
)

// fakeFCM is Google's token endpoint (/token) and the FCM HTTP v1 API
// (/v1/projects/{project}/messages:send) in one server. It checks requests
// as they would and answers in their documented formats.
type fakeFCM struct {
	tb  testing.TB
	srv *httptest.Server
	pub *rsa.PublicKey
	now func() time.Time

	mu sync.Mutex
	// issued maps each access token handed out to its expiry; guarded by mu.
	issued map[string]time.Time
	// revoked access tokens are answered 401; guarded by mu.
	revoked map[string]bool
	// tokenCalls counts token requests; guarded by mu.
	tokenCalls int
	// tokenAnswer, when set, answers token requests instead; guarded by mu.
	tokenAnswer func() (status int, body string)
	// sends are the send requests that reached the answer; guarded by mu.
	sends []fakeSend
	// answer, when set, answers send requests; guarded by mu.
	answer func(s fakeSend) (status int, body string, hdr http.Header)
}

// fakeSend is one messages:send request as FCM would see it.
type fakeSend struct {
	AccessToken string
	Raw         []byte // the "message" object as sent
	Msg         v1Message
	Aps         *v1Aps // Msg.APNS.Payload's aps, decoded
}

// v1Message and the types below are the FCM v1 Message resource with its
// JSON types; a value of a wrong type or an unknown field fails to
// decode, as FCM answers INVALID_ARGUMENT "Invalid JSON payload".
type v1Message struct {
	Token        string            `json:"token"`
	Data         map[string]string `json:"data"`
	Notification *v1Notification   `json:"notification"`
	Android      *v1Android        `json:"android"`
	APNS         *v1APNS           `json:"apns"`
}

type v1Notification struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	Image string `json:"image"`
}

type v1Android struct {
	CollapseKey  string                 `json:"collapse_key"`
	Priority     string                 `json:"priority"`
	TTL          string                 `json:"ttl"`
	Data         map[string]string      `json:"data"`
	Notification *v1AndroidNotification `json:"notification"`
}

type v1AndroidNotification struct {
	Title             string `json:"title"`
	Body              string `json:"body"`
	Tag               string `json:"tag"`
	Sound             string `json:"sound"`
	ChannelID         string `json:"channel_id"`
	NotificationCount *int   `json:"notification_count"`
}

type v1APNS struct {
	Headers map[string]string `json:"headers"`
	Payload json.RawMessage   `json:"payload"`
}

// v1Aps is APNs' aps dictionary with its types.
type v1Aps struct {
	Alert            json.RawMessage `json:"alert"`
	Badge            *int            `json:"badge"`
	Sound            *string         `json:"sound"`
	ThreadID         *string         `json:"thread-id"`
	ContentAvailable *int            `json:"content-available"`
	MutableContent   *int            `json:"mutable-content"`
	Category         *string         `json:"category"`
}

func newFakeFCM(tb testing.TB, pub *rsa.PublicKey, now func() time.Time) *fakeFCM {
	tb.Helper()
	f := &fakeFCM{tb: tb, pub: pub, now: now, issued: map[string]time.Time{}, revoked: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", f.serveToken)
	mux.HandleFunc("/v1/", f.serveSend)
	f.srv = httptest.NewServer(mux)
	tb.Cleanup(f.srv.Close)
	return f
}

func (f *fakeFCM) tokenURL() string { return f.srv.URL + "/token" }

func (f *fakeFCM) setAnswer(fn func(s fakeSend) (int, string, http.Header)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = fn
}

func (f *fakeFCM) setTokenAnswer(fn func() (int, string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenAnswer = fn
}

func (f *fakeFCM) revoke(tok string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked[tok] = true
}

func (f *fakeFCM) counts() (tokenCalls, sends int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenCalls, len(f.sends)
}

func (f *fakeFCM) sent() []fakeSend {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeSend(nil), f.sends...)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// apiErrorBody is a Google API error, with an FcmError detail when
// fcmCode is set.
func apiErrorBody(code int, status, message, fcmCode string) string {
	e := map[string]any{"code": code, "message": message, "status": status}
	if fcmCode != "" {
		e["details"] = []any{map[string]any{"@type": fcmErrorType, "errorCode": fcmCode}}
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return string(b)
}

// badRequest is a request no correct client sends: the test fails, and the
// client gets FCM's answer to it.
func (f *fakeFCM) badRequest(w http.ResponseWriter, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.tb.Errorf("fake FCM: %s", msg)
	writeJSON(w, http.StatusBadRequest, apiErrorBody(400, "INVALID_ARGUMENT", msg, ""))
}

// serveToken is the JWT bearer grant of "Using OAuth 2.0 for Server to
// Server Applications".
func (f *fakeFCM) serveToken(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.tokenCalls++
	n := f.tokenCalls
	answer := f.tokenAnswer
	f.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		f.tb.Errorf("fake token endpoint: %s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_request"}`)
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		f.tb.Errorf("fake token endpoint: form %v (%v)", r.PostForm, err)
		writeJSON(w, http.StatusBadRequest, `{"error":"unsupported_grant_type"}`)
		return
	}
	if err := f.verifyAssertion(r.PostForm.Get("assertion")); err != nil {
		f.tb.Errorf("fake token endpoint: %v", err)
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
		return
	}
	if answer != nil {
		status, body := answer()
		writeJSON(w, status, body)
		return
	}
	tok := "ya29.fake-" + strconv.Itoa(n)
	f.mu.Lock()
	f.issued[tok] = f.now().Add(time.Hour)
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, `{"access_token":"`+tok+`","expires_in":3599,"token_type":"Bearer"}`)
}

func (f *fakeFCM) verifyAssertion(jwt string) error {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return fmt.Errorf("assertion has %d parts", len(parts))
	}
	enc := base64.RawURLEncoding.Strict()
	var header struct {
		Alg, Typ, Kid string
	}
	var claims struct {
		Iss, Scope, Aud string
		Iat, Exp        int64
	}
	for i, v := range []any{&header, &claims} {
		b, err := enc.DecodeString(parts[i])
		if err != nil {
			return fmt.Errorf("part %d: %w", i, err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("part %d: %w", i, err)
		}
	}
	if header.Alg != "RS256" || header.Typ != "JWT" || header.Kid != testKeyID {
		return fmt.Errorf("header %+v", header)
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(f.pub, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	now := f.now().Unix()
	switch {
	case claims.Iss != testEmail:
		return fmt.Errorf("iss %q", claims.Iss)
	case !strings.Contains(" "+claims.Scope+" ", " https://www.googleapis.com/auth/firebase.messaging "):
		return fmt.Errorf("scope %q", claims.Scope)
	case claims.Aud != f.tokenURL():
		return fmt.Errorf("aud %q, want %q", claims.Aud, f.tokenURL())
	case claims.Iat > now+60 || claims.Exp <= now || claims.Exp-claims.Iat > 3600:
		return fmt.Errorf("iat %d exp %d at %d", claims.Iat, claims.Exp, now)
	}
	return nil
}

// dropConnection, as an answer's status, closes the connection without
// answering.
const dropConnection = -1

var (
	sendPath  = regexp.MustCompile(`^/v1/projects/([^/]+)/messages:send$`)
	ttlFormat = regexp.MustCompile(`^\d+(\.\d{1,9})?s$`)
)

func (f *fakeFCM) serveSend(w http.ResponseWriter, r *http.Request) {
	m := sendPath.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodPost || m == nil {
		f.tb.Errorf("fake FCM: %s %s", r.Method, r.URL.Path)
		writeJSON(w, http.StatusNotFound, apiErrorBody(404, "NOT_FOUND", "not found", ""))
		return
	}
	access, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	exp, issued := f.issued[access]
	valid := ok && issued && !f.revoked[access] && f.now().Before(exp)
	f.mu.Unlock()
	if !valid {
		writeJSON(w, http.StatusUnauthorized, apiErrorBody(401, "UNAUTHENTICATED",
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", ""))
		return
	}
	if m[1] != testProject {
		writeJSON(w, http.StatusForbidden, apiErrorBody(403, "PERMISSION_DENIED",
			"Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/"+m[1]+"'", ""))
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.badRequest(w, "Content-Type %q", ct)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.tb.Errorf("fake FCM: read body: %v", err)
		return
	}
	var req struct {
		ValidateOnly bool            `json:"validate_only"`
		Message      json.RawMessage `json:"message"`
	}
	if err := strictDecode(body, &req); err != nil {
		f.badRequest(w, "Invalid JSON payload received. %v", err)
		return
	}
	s := fakeSend{AccessToken: access, Raw: req.Message}
	if err := strictDecode(req.Message, &s.Msg); err != nil {
		f.badRequest(w, "Invalid JSON payload received. %v: %s", err, req.Message)
		return
	}
	if err := f.check(&s); err != nil {
		f.badRequest(w, "%v", err)
		return
	}
	f.mu.Lock()
	f.sends = append(f.sends, s)
	n := len(f.sends)
	answer := f.answer
	f.mu.Unlock()
	if answer != nil {
		status, body, hdr := answer(s)
		if status == dropConnection {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				f.tb.Errorf("fake FCM: hijack: %v", err)
				return
			}
			conn.Close()
			return
		}
		for k, v := range hdr {
			w.Header()[k] = v
		}
		writeJSON(w, status, body)
		return
	}
	writeJSON(w, http.StatusOK, `{"name":"projects/`+testProject+`/messages/0:`+strconv.Itoa(n)+`"}`)
}

// check applies FCM's rules that the JSON types alone do not.
func (f *fakeFCM) check(s *fakeSend) error {
	msg := s.Msg
	if msg.Token == "" {
		return fmt.Errorf("message has no token")
	}
	if len(s.Raw) > MaxPayload {
		return fmt.Errorf("Message is too big: %d bytes", len(s.Raw))
	}
	for k := range msg.Data {
		if k == "from" || k == "notification" || k == "message_type" || strings.HasPrefix(k, "google.") || strings.HasPrefix(k, "gcm.") {
			return fmt.Errorf("Invalid data payload key: %s", k)
		}
	}
	if a := msg.Android; a != nil {
		switch a.Priority {
		case "", "normal", "high", "NORMAL", "HIGH":
		default:
			return fmt.Errorf("android.priority %q", a.Priority)
		}
		if a.TTL != "" && !ttlFormat.MatchString(a.TTL) {
			return fmt.Errorf("android.ttl %q", a.TTL)
		}
		if a.TTL != "" {
			d, _ := time.ParseDuration(a.TTL)
			if d > 28*24*time.Hour {
				return fmt.Errorf("android.ttl %q is over 4 weeks", a.TTL)
			}
		}
	}
	if a := msg.APNS; a != nil {
		var payload map[string]json.RawMessage
		if err := json.Unmarshal(a.Payload, &payload); err != nil || payload["aps"] == nil {
			return fmt.Errorf("apns.payload %s: %v", a.Payload, err)
		}
		s.Aps = new(v1Aps)
		if err := strictDecode(payload["aps"], s.Aps); err != nil {
			return fmt.Errorf("apns.payload.aps %s: %v", payload["aps"], err)
		}
		aps := *s.Aps
		prio, pushType := a.Headers["apns-priority"], a.Headers["apns-push-type"]
		if prio != "" && prio != "10" && prio != "5" {
			return fmt.Errorf("apns-priority %q", prio)
		}
		if pushType == "background" && (prio != "5" || aps.ContentAvailable == nil || *aps.ContentAvailable != 1 ||
			aps.Badge != nil || aps.Sound != nil || aps.Alert != nil || msg.Notification != nil) {
			return fmt.Errorf("background push: headers %v payload %s notification %v", a.Headers, a.Payload, msg.Notification)
		}
		if len(a.Headers["apns-collapse-id"]) > 64 {
			return fmt.Errorf("apns-collapse-id over 64 bytes")
		}
		if exp := a.Headers["apns-expiration"]; exp != "" {
			if _, err := strconv.ParseInt(exp, 10, 64); err != nil {
				return fmt.Errorf("apns-expiration %q", exp)
			}
		}
	}
	return nil
}

func strictDecode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
