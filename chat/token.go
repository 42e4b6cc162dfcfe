package chat

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SystemUser sends the messages backends send as the system: each user's
// system conversation is its direct conversation with it. No token may
// name a user id starting with '@'.
const SystemUser = "@system"

// Claims is what a verified token says about its bearer.
type Claims struct {
	User    string
	Expires time.Time
	// Device and Platform, when the token names them (claims "device" and
	// "platform"), bind it: a login must be from that device and platform.
	Device, Platform string
}

// tokenClaims are the JWT claims Loft reads.
type tokenClaims struct {
	jwt.RegisteredClaims
	Device   string `json:"device,omitempty"`
	Platform string `json:"platform,omitempty"`
}

// Authenticator verifies a client's token.
type Authenticator interface {
	Verify(token string) (Claims, error)
}

// ErrBadToken is returned for every token that does not verify; the reason is
// wrapped for logs but never shown to clients.
var ErrBadToken = errors.New("chat: invalid token")

// TokenConfig configures a JWTVerifier. Exactly one of Secret and PublicKey
// must be set.
type TokenConfig struct {
	// Secret is the HMAC key for HS256/384/512 tokens.
	Secret []byte
	// PublicKey verifies RSA, ECDSA or Ed25519 signed tokens.
	PublicKey crypto.PublicKey
	// Algorithms are the accepted "alg" values. Default: HS256 for a
	// secret, RS256, ES256 or EdDSA for a public key, by its type.
	Algorithms []string
	// Issuer, if set, must equal the token's "iss".
	Issuer string
	// Audience, if set, must be among the token's "aud".
	Audience string
	// Leeway is the clock skew allowed on exp and nbf. Default 30 s.
	Leeway time.Duration
}

// JWTVerifier verifies JSON Web Tokens: the configured algorithms only, exp
// required, nbf checked, iss and aud when configured, sub is the user.
type JWTVerifier struct {
	parser *jwt.Parser
	key    any
}

var _ Authenticator = (*JWTVerifier)(nil)

// NewJWTVerifier validates cfg and returns a verifier.
func NewJWTVerifier(cfg TokenConfig) (*JWTVerifier, error) {
	if (len(cfg.Secret) == 0) == (cfg.PublicKey == nil) {
		return nil, errors.New("chat: set exactly one of a JWT secret and a public key")
	}
	algs := cfg.Algorithms
	var key any
	if len(cfg.Secret) > 0 {
		if len(cfg.Secret) < 32 {
			return nil, errors.New("chat: JWT secret must be at least 32 bytes")
		}
		key = cfg.Secret
		if len(algs) == 0 {
			algs = []string{"HS256"}
		}
	} else {
		key = cfg.PublicKey
		if len(algs) == 0 {
			switch cfg.PublicKey.(type) {
			case *rsa.PublicKey:
				algs = []string{"RS256"}
			case *ecdsa.PublicKey:
				algs = []string{"ES256"}
			case ed25519.PublicKey:
				algs = []string{"EdDSA"}
			default:
				return nil, fmt.Errorf("chat: unsupported public key type %T", cfg.PublicKey)
			}
		}
	}
	for _, a := range algs {
		m := jwt.GetSigningMethod(a)
		if m == nil || a == "none" {
			return nil, fmt.Errorf("chat: unknown JWT algorithm %q", a)
		}
		if _, isHMAC := m.(*jwt.SigningMethodHMAC); isHMAC != (len(cfg.Secret) > 0) {
			return nil, fmt.Errorf("chat: JWT algorithm %q does not fit the configured key", a)
		}
	}
	leeway := cfg.Leeway
	if leeway == 0 {
		leeway = 30 * time.Second
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &JWTVerifier{parser: jwt.NewParser(opts...), key: key}, nil
}

// Verify checks token and returns its claims. Every failure wraps
// ErrBadToken.
func (v *JWTVerifier) Verify(token string) (Claims, error) {
	var rc tokenClaims
	_, err := v.parser.ParseWithClaims(token, &rc, func(*jwt.Token) (any, error) { return v.key, nil })
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	if !ValidID(rc.Subject) {
		return Claims{}, fmt.Errorf("%w: sub is not a valid user id", ErrBadToken)
	}
	if strings.HasPrefix(rc.Subject, "@") {
		return Claims{}, fmt.Errorf("%w: user ids starting with @ are reserved (%s)", ErrBadToken, SystemUser)
	}
	if (rc.Device != "" && !ValidID(rc.Device)) || (rc.Platform != "" && !ValidID(rc.Platform)) {
		return Claims{}, fmt.Errorf("%w: device or platform claim is not a valid id", ErrBadToken)
	}
	return Claims{User: rc.Subject, Expires: rc.ExpiresAt.Time, Device: rc.Device, Platform: rc.Platform}, nil
}

// SignHS256 signs a client token for c with secret: sub, iat and exp, the
// device and platform claims when set, and iss and aud when not empty.
func SignHS256(secret []byte, c Claims, issuedAt time.Time, issuer, audience string) (string, error) {
	tc := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: c.User, Issuer: issuer, IssuedAt: jwt.NewNumericDate(issuedAt), ExpiresAt: jwt.NewNumericDate(c.Expires)},
		Device:           c.Device,
		Platform:         c.Platform,
	}
	if audience != "" {
		tc.Audience = jwt.ClaimStrings{audience}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, tc).SignedString(secret)
}
