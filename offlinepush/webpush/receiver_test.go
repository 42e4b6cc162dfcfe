package webpush

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file is a browser and its push service, written from RFC 8030, 8188,
// 8291 and 8292 independently of the package's sending side: a user agent
// key pair and auth secret, and an httptest server that checks each push
// as a push service would (VAPID JWT signature and claims, headers), then
// decrypts it as the browser would.

// browser is one push subscription's user agent side.
type browser struct {
	private *ecdh.PrivateKey
	auth    []byte
}

func newBrowser(tb testing.TB) *browser {
	tb.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return &browser{private: k, auth: auth}
}

// token is the PushSubscription JSON the page would register.
func (b *browser) token(endpoint string) string {
	enc := base64.RawURLEncoding
	t, _ := json.Marshal(map[string]any{
		"endpoint":       endpoint,
		"expirationTime": nil,
		"keys": map[string]string{
			"p256dh": enc.EncodeToString(b.private.PublicKey().Bytes()),
			"auth":   enc.EncodeToString(b.auth),
		},
	})
	return string(t)
}

// decrypt opens an aes128gcm body (RFC 8188 section 2, RFC 8291 section 3
// from the receiving side) and removes the padding.
func decrypt(body []byte, uaPrivate *ecdh.PrivateKey, authSecret []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("body shorter than the aes128gcm header")
	}
	salt := body[:16]
	rs := binary.BigEndian.Uint32(body[16:20])
	idlen := int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		return nil, fmt.Errorf("keyid is %d bytes, want the 65-byte sender key", idlen)
	}
	asPublic, err := ecdh.P256().NewPublicKey(body[21 : 21+idlen])
	if err != nil {
		return nil, fmt.Errorf("keyid: %w", err)
	}
	record := body[21+idlen:]
	if uint32(len(record)) >= rs { // RFC 8291 section 4: one record, smaller than rs
		return nil, fmt.Errorf("record of %d bytes does not fit rs %d", len(record), rs)
	}
	secret, err := uaPrivate.ECDH(asPublic)
	if err != nil {
		return nil, err
	}
	info := append([]byte("WebPush: info\x00"), uaPrivate.PublicKey().Bytes()...)
	info = append(info, asPublic.Bytes()...)
	prkKey, err := hkdf.Extract(sha256.New, secret, authSecret)
	if err != nil {
		return nil, err
	}
	ikm, err := hkdf.Expand(sha256.New, prkKey, string(info), 32)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, record, nil)
	if err != nil {
		return nil, err
	}
	// Padding: the delimiter is the last non-zero byte, 0x02 for the last
	// record (RFC 8188 section 2).
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 0x02 {
		return nil, errors.New("no last-record padding delimiter")
	}
	return plain[:i], nil
}

// received is one push as the fake push service saw it.
type received struct {
	Header  http.Header
	Body    []byte // as sent, encrypted
	Message map[string]any
	Claims  jwtClaims
	JWT     string
}

type jwtClaims struct {
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Sub string `json:"sub"`
}

// pushService is a fake push service for one browser's subscriptions.
type pushService struct {
	tb      testing.TB
	srv     *httptest.Server
	browser *browser
	vapidK  string           // the applicationServerKey the browser subscribed with
	now     func() time.Time // the service's clock, for exp
	// respond, if set, answers instead of 201 after the checks pass.
	respond func(w http.ResponseWriter)

	mu   sync.Mutex
	got  []received // guarded by mu
	errs []string   // guarded by mu
}

func newPushService(tb testing.TB, b *browser, vapidPublic string, now func() time.Time) *pushService {
	tb.Helper()
	p := &pushService{tb: tb, browser: b, vapidK: vapidPublic, now: now}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(p.serve))
	tb.Cleanup(p.srv.Close)
	return p
}

func (p *pushService) endpoint() string { return p.srv.URL + "/wpush/v2/gAAAAABsubscription" }

func (p *pushService) fail(w http.ResponseWriter, format string, args ...any) {
	p.mu.Lock()
	p.errs = append(p.errs, fmt.Sprintf(format, args...))
	p.mu.Unlock()
	http.Error(w, "bad request", http.StatusBadRequest)
}

var topicRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

func (p *pushService) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/wpush/v2/gAAAAABsubscription" {
		p.fail(w, "%s %s, want POST to the subscription's endpoint", r.Method, r.URL.Path)
		return
	}
	h := r.Header
	if got := h.Get("Content-Encoding"); got != "aes128gcm" {
		p.fail(w, "Content-Encoding %q", got)
		return
	}
	if ttl, err := strconv.Atoi(h.Get("TTL")); err != nil || ttl < 0 {
		p.fail(w, "TTL %q is not a non-negative integer (RFC 8030 section 5.2 requires it)", h.Get("TTL"))
		return
	}
	if u := h.Get("Urgency"); u != "" && u != "very-low" && u != "low" && u != "normal" && u != "high" {
		p.fail(w, "Urgency %q", u)
		return
	}
	if t, ok := h["Topic"]; ok && !topicRE.MatchString(t[0]) {
		p.fail(w, "Topic %q is not 1-32 base64url characters", t[0])
		return
	}
	claims, jwt, err := p.checkVAPID(h.Get("Authorization"), "https://"+r.Host)
	if err != nil {
		p.fail(w, "VAPID: %v", err)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if len(body) > MaxBody {
		p.fail(w, "body of %d bytes is over RFC 8030's 4096", len(body))
		return
	}
	plain, err := decrypt(body, p.browser.private, p.browser.auth)
	if err != nil {
		p.fail(w, "decrypt: %v", err)
		return
	}
	var msg map[string]any
	if err := json.Unmarshal(plain, &msg); err != nil {
		p.fail(w, "decrypted payload is not JSON: %v: %q", err, plain)
		return
	}
	p.mu.Lock()
	p.got = append(p.got, received{Header: h.Clone(), Body: body, Message: msg, Claims: claims, JWT: jwt})
	p.mu.Unlock()
	if p.respond != nil {
		p.respond(w)
		return
	}
	w.Header().Set("Location", p.srv.URL+"/m/1")
	w.WriteHeader(http.StatusCreated)
}

// checkVAPID verifies an RFC 8292 Authorization header: the JWT's ES256
// signature against k, which must be the key the browser subscribed with,
// and its aud, exp and sub claims.
func (p *pushService) checkVAPID(authz, origin string) (jwtClaims, string, error) {
	var c jwtClaims
	rest, ok := strings.CutPrefix(authz, "vapid ")
	if !ok {
		return c, "", fmt.Errorf("Authorization %q is not the vapid scheme", authz)
	}
	params := map[string]string{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		params[k] = v
	}
	if params["k"] != p.vapidK {
		return c, "", fmt.Errorf("k=%q, want the subscription's applicationServerKey %q", params["k"], p.vapidK)
	}
	kb, err := base64.RawURLEncoding.DecodeString(params["k"])
	if err != nil {
		return c, "", err
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), kb)
	if err != nil {
		return c, "", err
	}
	parts := strings.Split(params["t"], ".")
	if len(parts) != 3 {
		return c, "", fmt.Errorf("t=%q is not a JWS", params["t"])
	}
	var hdr struct{ Typ, Alg string }
	if err := decodeJSONPart(parts[0], &hdr); err != nil || hdr.Alg != "ES256" {
		return c, "", fmt.Errorf("JWT header %+v (%v), want alg ES256", hdr, err)
	}
	if err := decodeJSONPart(parts[1], &c); err != nil {
		return c, "", err
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return c, "", fmt.Errorf("signature is %d bytes (%v), want r||s of 64", len(sig), err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return c, "", errors.New("JWT signature does not verify against k")
	}
	if c.Aud != origin {
		return c, "", fmt.Errorf("aud %q, want the endpoint's origin %q", c.Aud, origin)
	}
	now := p.now().Unix()
	if c.Exp <= now || c.Exp > now+24*3600 {
		return c, "", fmt.Errorf("exp %d is not within 24 h after now %d", c.Exp, now)
	}
	if !strings.HasPrefix(c.Sub, "mailto:") && !strings.HasPrefix(c.Sub, "https://") || strings.HasPrefix(c.Sub, "mailto:mailto:") {
		return c, "", fmt.Errorf("sub %q is not a mailto: or https: contact", c.Sub)
	}
	return c, params["t"], nil
}

func decodeJSONPart(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// pushes returns what the service accepted, failing the test on any push
// it refused as malformed.
func (p *pushService) pushes() []received {
	p.tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errs {
		p.tb.Errorf("push service refused a push: %s", e)
	}
	p.errs = nil
	return append([]received(nil), p.got...)
}
