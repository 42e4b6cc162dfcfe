package apns

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPNs is an HTTP/2 TLS server that checks requests as APNs does and
// answers with APNs' documented statuses and reasons.
type fakeAPNs struct {
	tb     testing.TB
	srv    *httptest.Server
	pub    *ecdsa.PublicKey
	keyID  string
	teamID string
	topic  string
	now    func() time.Time

	mu sync.Mutex
	// reqs are the requests that passed the checks; guarded by mu.
	reqs []fakeRequest
	// jwts counts requests per distinct provider token; guarded by mu.
	jwts map[string]int
	// expired holds provider tokens answered ExpiredProviderToken;
	// guarded by mu.
	expired map[string]bool
	// answer, when set, decides the answer to a request that passed the
	// checks; guarded by mu.
	answer func(r fakeRequest) (status int, reason string, hdr http.Header)
}

// fakeRequest is one request as APNs would see it.
type fakeRequest struct {
	Token  string
	JWT    string
	Header http.Header
	Body   []byte
	Aps    fakeAps
	Data   map[string]string
}

// fakeAps is the aps dictionary with APNs' types: a wrong type fails to
// decode, an unknown key is refused.
type fakeAps struct {
	Alert            *fakeAlert `json:"alert"`
	Badge            *int       `json:"badge"`
	Sound            *string    `json:"sound"`
	ThreadID         *string    `json:"thread-id"`
	ContentAvailable *int       `json:"content-available"`
}

type fakeAlert struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

func newFakeAPNs(tb testing.TB, pub *ecdsa.PublicKey, now func() time.Time) *fakeAPNs {
	tb.Helper()
	f := &fakeAPNs{
		tb: tb, pub: pub, keyID: testKeyID, teamID: testTeamID, topic: testTopic, now: now,
		jwts: map[string]int{}, expired: map[string]bool{},
	}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes cut short by a test's end
	f.srv.EnableHTTP2 = true
	f.srv.StartTLS()
	tb.Cleanup(f.srv.Close)
	return f
}

// client returns an HTTP client that trusts the fake's certificate and,
// like the default one, speaks only HTTP/2.
func (f *fakeAPNs) client() *http.Client {
	c := f.srv.Client()
	c.Transport.(*http.Transport).Protocols = new(http.Protocols)
	c.Transport.(*http.Transport).Protocols.SetHTTP2(true)
	c.Timeout = 10 * time.Second
	return c
}

func (f *fakeAPNs) setAnswer(fn func(r fakeRequest) (int, string, http.Header)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = fn
}

func (f *fakeAPNs) expire(jwt string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expired[jwt] = true
}

func (f *fakeAPNs) requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.reqs...)
}

func (f *fakeAPNs) distinctJWTs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.jwts)
}

func (f *fakeAPNs) reply(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("apns-id", "00000000-0000-0000-0000-000000000001")
	if status == http.StatusOK {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(status)
	body := map[string]any{"reason": reason}
	if status == http.StatusGone {
		body["timestamp"] = f.now().Add(-time.Hour).UnixMilli()
	}
	_ = json.NewEncoder(w).Encode(body)
}

// protocolError is a request that no correct client sends: the test fails,
// and the client gets APNs' answer to it.
func (f *fakeAPNs) protocolError(w http.ResponseWriter, status int, reason, format string, args ...any) {
	f.tb.Errorf("fake APNs: "+reason+": "+format, args...)
	f.reply(w, status, reason)
}

func (f *fakeAPNs) serve(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 {
		f.protocolError(w, http.StatusBadRequest, "BadRequest", "protocol %s, APNs is HTTP/2 only", r.Proto)
		return
	}
	if r.Method != http.MethodPost {
		f.protocolError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "method %s", r.Method)
		return
	}
	token, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if !ok {
		f.protocolError(w, http.StatusNotFound, "BadPath", "path %s", r.URL.Path)
		return
	}
	if token == "" {
		f.protocolError(w, http.StatusBadRequest, "MissingDeviceToken", "no token in path")
		return
	}
	if len(r.Header.Values("apns-topic")) > 1 || len(r.Header.Values("apns-priority")) > 1 {
		f.protocolError(w, http.StatusBadRequest, "DuplicateHeaders", "%v", r.Header)
		return
	}
	auth, ok := strings.CutPrefix(r.Header.Get("authorization"), "bearer ")
	if !ok {
		f.protocolError(w, http.StatusForbidden, "MissingProviderToken", "authorization %q", r.Header.Get("authorization"))
		return
	}
	iat, err := f.verifyJWT(auth)
	if err != nil {
		f.protocolError(w, http.StatusForbidden, "InvalidProviderToken", "%v", err)
		return
	}
	switch topic := r.Header.Get("apns-topic"); topic {
	case f.topic:
	case "":
		f.protocolError(w, http.StatusBadRequest, "MissingTopic", "no apns-topic")
		return
	default:
		f.protocolError(w, http.StatusBadRequest, "BadTopic", "apns-topic %q", topic)
		return
	}
	pushType, prio := r.Header.Get("apns-push-type"), r.Header.Get("apns-priority")
	switch {
	case pushType != "alert" && pushType != "background":
		f.protocolError(w, http.StatusBadRequest, "InvalidPushType", "apns-push-type %q", pushType)
		return
	case prio != "10" && prio != "5":
		f.protocolError(w, http.StatusBadRequest, "BadPriority", "apns-priority %q", prio)
		return
	case pushType == "background" && prio != "5":
		f.protocolError(w, http.StatusBadRequest, "BadPriority", "background push with priority %s", prio)
		return
	}
	if exp := r.Header.Get("apns-expiration"); exp != "" {
		if _, err := strconv.ParseInt(exp, 10, 64); err != nil {
			f.protocolError(w, http.StatusBadRequest, "BadExpirationDate", "apns-expiration %q", exp)
			return
		}
	}
	if len(r.Header.Get("apns-collapse-id")) > 64 {
		f.protocolError(w, http.StatusBadRequest, "BadCollapseId", "%d bytes", len(r.Header.Get("apns-collapse-id")))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.tb.Errorf("fake APNs: read body: %v", err)
		return
	}
	if len(body) > MaxPayload {
		f.protocolError(w, http.StatusRequestEntityTooLarge, "PayloadTooLarge", "%d bytes", len(body))
		return
	}
	req, err := decodePayload(body)
	if err != nil {
		f.protocolError(w, http.StatusBadRequest, "BadPayload", "%v: %s", err, body)
		return
	}
	if pushType == "background" && (req.Aps.ContentAvailable == nil || *req.Aps.ContentAvailable != 1 ||
		req.Aps.Alert != nil || req.Aps.Sound != nil || req.Aps.Badge != nil) {
		f.protocolError(w, http.StatusBadRequest, "BadPayload", "background push with aps %s", body)
		return
	}
	if pushType == "alert" && req.Aps.Alert == nil {
		f.protocolError(w, http.StatusBadRequest, "BadPayload", "alert push without alert: %s", body)
		return
	}
	req.Token, req.JWT, req.Header, req.Body = token, auth, r.Header.Clone(), body

	f.mu.Lock()
	f.jwts[auth]++
	expired := f.expired[auth] || f.now().Sub(iat) > time.Hour
	if !expired {
		f.reqs = append(f.reqs, req)
	}
	answer := f.answer
	f.mu.Unlock()
	if expired {
		f.reply(w, http.StatusForbidden, "ExpiredProviderToken")
		return
	}
	status, reason := http.StatusOK, ""
	if answer != nil {
		var hdr http.Header
		status, reason, hdr = answer(req)
		for k, v := range hdr {
			w.Header()[k] = v
		}
	}
	f.reply(w, status, reason)
}

func decodePayload(body []byte) (fakeRequest, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return fakeRequest{}, err
	}
	var req fakeRequest
	raw, ok := top["aps"]
	if !ok {
		return req, fmt.Errorf("no aps")
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&req.Aps); err != nil {
		return req, fmt.Errorf("aps: %w", err)
	}
	req.Data = map[string]string{}
	for k, v := range top {
		if k == "aps" {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return req, fmt.Errorf("data %q is not a string: %s", k, v)
		}
		req.Data[k] = s
	}
	return req, nil
}

// verifyJWT checks a provider token as APNs documents it: ES256 over
// base64url (no padding) header and claims, kid the Key ID, iss the Team
// ID, iat not in the future. It returns iat.
func (f *fakeAPNs) verifyJWT(tok string) (time.Time, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, fmt.Errorf("%d parts", len(parts))
	}
	enc := base64.RawURLEncoding.Strict()
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	var claims struct {
		Iss string `json:"iss"`
		Iat *int64 `json:"iat"`
	}
	for i, v := range []any{&header, &claims} {
		b, err := enc.DecodeString(parts[i])
		if err != nil {
			return time.Time{}, fmt.Errorf("part %d: %w", i, err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			return time.Time{}, fmt.Errorf("part %d: %w", i, err)
		}
	}
	if header.Alg != "ES256" || header.Kid != f.keyID {
		return time.Time{}, fmt.Errorf("header %+v", header)
	}
	if claims.Iss != f.teamID || claims.Iat == nil {
		return time.Time{}, fmt.Errorf("claims %+v", claims)
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return time.Time{}, fmt.Errorf("signature: %d bytes, %v", len(sig), err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(f.pub, sum[:], r, s) {
		return time.Time{}, fmt.Errorf("signature does not verify")
	}
	iat := time.Unix(*claims.Iat, 0)
	if iat.After(f.now().Add(time.Minute)) {
		return time.Time{}, fmt.Errorf("iat %v is in the future", iat)
	}
	return iat, nil
}
