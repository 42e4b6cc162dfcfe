package webpush

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// VAPID JWT lifetime (RFC 8292 section 2: exp at most 24 hours ahead). A
// token is reused for an origin until half its life has passed, so a push
// never carries one about to expire.
const (
	jwtLifetime = 12 * time.Hour
	jwtReuse    = jwtLifetime / 2
	// maxOrigins bounds the token cache; there are a handful of push
	// services, so hitting it means something odd and a reset is cheap.
	maxOrigins = 64
)

// GenerateVAPIDKeys returns a new VAPID key pair, base64url without
// padding as browsers and the other Web Push libraries write them: public
// is the uncompressed P-256 point (the applicationServerKey the page
// passes to pushManager.subscribe), private the 32-byte scalar.
func GenerateVAPIDKeys() (public, private string, err error) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(k.PublicKey().Bytes()), enc.EncodeToString(k.Bytes()), nil
}

// decodeKey reads a base64url key as browsers and libraries write it:
// with or without padding, and tolerating the standard alphabet.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// parseVAPIDKeys checks that the configured keys are a P-256 pair: a
// public key that is not the private key's would make every push service
// answer 401/403, so it is a configuration error, found at New.
func parseVAPIDKeys(public, private string) (*ecdsa.PrivateKey, []byte, error) {
	if private == "" {
		return nil, nil, errors.New("webpush: Config.VAPIDPrivateKey is required")
	}
	if public == "" {
		return nil, nil, errors.New("webpush: Config.VAPIDPublicKey is required")
	}
	d, err := decodeKey(private)
	if err != nil {
		return nil, nil, fmt.Errorf("webpush: Config.VAPIDPrivateKey is not base64url: %w", err)
	}
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		return nil, nil, fmt.Errorf("webpush: Config.VAPIDPrivateKey is not a P-256 private key: %w", err)
	}
	pub, err := decodeKey(public)
	if err != nil {
		return nil, nil, fmt.Errorf("webpush: Config.VAPIDPublicKey is not base64url: %w", err)
	}
	want, err := key.PublicKey.Bytes()
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(pub, want) {
		return nil, nil, errors.New("webpush: Config.VAPIDPublicKey is not the public key of Config.VAPIDPrivateKey")
	}
	return key, pub, nil
}

// parseSubscriber returns the VAPID sub claim. RFC 8292 makes it optional,
// but Mozilla's and Apple's push services refuse a JWT without a usable
// contact, so New requires one.
func parseSubscriber(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", errors.New("webpush: Config.Subscriber is required (mailto: or https: contact)")
	case strings.HasPrefix(s, "mailto:") && strings.Contains(s, "@"):
		return s, nil
	case strings.HasPrefix(s, "https://") && len(s) > len("https://"):
		return s, nil
	case !strings.Contains(s, ":") && strings.Contains(s, "@"):
		return "mailto:" + s, nil // a bare address
	}
	return "", fmt.Errorf("webpush: Config.Subscriber %q is neither a mailto: address nor an https: URL", s)
}

// vapid signs RFC 8292 JWTs and caches one per push service origin.
type vapid struct {
	key    *ecdsa.PrivateKey
	k      string // the public key, base64url, for the k= parameter
	sub    string
	now    func() time.Time
	mu     sync.Mutex
	tokens map[string]vapidToken // by aud; guarded by mu
}

type vapidToken struct {
	header string // the whole Authorization value
	exp    time.Time
	signed time.Time
}

func newVAPID(key *ecdsa.PrivateKey, public []byte, sub string, now func() time.Time) *vapid {
	return &vapid{
		key:    key,
		k:      base64.RawURLEncoding.EncodeToString(public),
		sub:    sub,
		now:    now,
		tokens: make(map[string]vapidToken),
	}
}

// authorization returns the Authorization header value for a push service
// origin (the JWT's aud), signing a new token when needed.
func (v *vapid) authorization(aud string) (string, error) {
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if t, ok := v.tokens[aud]; ok && now.Sub(t.signed) < jwtReuse && now.Before(t.exp) && !now.Before(t.signed) {
		return t.header, nil
	}
	exp := now.Add(jwtLifetime)
	jwt, err := v.sign(aud, exp)
	if err != nil {
		return "", err
	}
	if len(v.tokens) >= maxOrigins {
		clear(v.tokens)
	}
	h := "vapid t=" + jwt + ", k=" + v.k
	v.tokens[aud] = vapidToken{header: h, exp: exp, signed: now}
	return h, nil
}

// jwtHeader is the fixed JOSE header of every VAPID token.
var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"ES256"}`))

// sign makes an ES256 JWT (RFC 7515 appendix A.3: the signature is r||s,
// 32 bytes each, not ASN.1).
func (v *vapid) sign(aud string, exp time.Time) (string, error) {
	claims, err := json.Marshal(struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}{aud, exp.Unix(), v.sub})
	if err != nil {
		return "", err
	}
	signingInput := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signingInput))
	r, s, err := ecdsa.Sign(rand.Reader, v.key, digest[:])
	if err != nil {
		return "", fmt.Errorf("webpush: signing the VAPID JWT: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
