package apns

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

const (
	// tokenRefresh is how long a provider token is reused. Apple refuses
	// tokens older than an hour and answers TooManyProviderTokenUpdates to
	// a provider that changes its token more often than every 20 minutes.
	tokenRefresh = 50 * time.Minute
	// tokenMinAge is the youngest token an ExpiredProviderToken answer may
	// replace: APNs only calls a token that young expired when this host's
	// clock is wrong, which a new token cannot fix.
	tokenMinAge = 20 * time.Minute
)

// parseKey reads the .p8 token signing key Apple hands out: a PEM PKCS #8
// P-256 private key (SEC 1 "EC PRIVATE KEY" is accepted too).
func parseKey(p8 []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(p8)
	if block == nil {
		return nil, errors.New("apns: KeyP8 is not PEM")
	}
	var key any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("apns: KeyP8: %w", err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("apns: KeyP8 is not a P-256 (ES256) key")
	}
	return ec, nil
}

// providerToken makes and caches the ES256 JWT that authenticates every
// request ("Establishing a token-based connection to APNs"). It is safe for
// concurrent use.
type providerToken struct {
	key    *ecdsa.PrivateKey
	keyID  string
	teamID string
	now    func() time.Time

	mu     sync.Mutex
	jwt    string    // guarded by mu
	issued time.Time // guarded by mu
}

// get returns the cached token, signing a new one when it is 50 minutes old.
func (p *providerToken) get() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.jwt != "" && now.Sub(p.issued) < tokenRefresh && !now.Before(p.issued) {
		return p.jwt, nil
	}
	return p.signLocked(now)
}

// refresh replaces stale, which APNs answered ExpiredProviderToken, and
// returns the token to resend with. A Send that lost the race gets the
// token another one already made. ok is false when stale is too young to
// replace (see tokenMinAge).
func (p *providerToken) refresh(stale string) (jwt string, ok bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jwt != stale {
		return p.jwt, p.jwt != "", nil
	}
	now := p.now()
	if now.Sub(p.issued) < tokenMinAge && !now.Before(p.issued) {
		return "", false, nil
	}
	jwt, err = p.signLocked(now)
	return jwt, err == nil, err
}

func (p *providerToken) signLocked(now time.Time) (string, error) {
	header, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}{"ES256", p.keyID})
	claims, _ := json.Marshal(struct {
		Iss string `json:"iss"`
		Iat int64  `json:"iat"`
	}{p.teamID, now.Unix()})
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, p.key, sum[:])
	if err != nil {
		return "", fmt.Errorf("apns: sign provider token: %w", err)
	}
	// JWS wants the raw 32-byte r and s, not ASN.1 (RFC 7518 section 3.4).
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	var b strings.Builder
	b.WriteString(input)
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(sig))
	p.jwt, p.issued = b.String(), now
	return p.jwt, nil
}
