package fcm

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

const (
	// scope is the OAuth 2.0 scope of the FCM HTTP v1 API.
	scope = "https://www.googleapis.com/auth/firebase.messaging"
	// assertionLife is the lifetime asked for in the JWT; Google allows at
	// most an hour.
	assertionLife = time.Hour
	// tokenMargin is how long before its expiry an access token is
	// replaced, so that none expires on its way to FCM.
	tokenMargin = time.Minute
)

// serviceAccount is the part of a service account key file (the JSON
// downloaded from the Firebase console) that authentication needs.
type serviceAccount struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

func parseServiceAccount(b []byte) (*serviceAccount, *rsa.PrivateKey, error) {
	var sa serviceAccount
	if err := json.Unmarshal(b, &sa); err != nil {
		return nil, nil, fmt.Errorf("fcm: CredentialsJSON: %w", err)
	}
	if sa.Type != "" && sa.Type != "service_account" {
		return nil, nil, fmt.Errorf("fcm: CredentialsJSON is a %q, want a service_account key", sa.Type)
	}
	if sa.ClientEmail == "" {
		return nil, nil, errors.New("fcm: CredentialsJSON has no client_email")
	}
	block, _ := pem.Decode([]byte(sa.PrivateKey))
	if block == nil {
		return nil, nil, errors.New("fcm: CredentialsJSON has no PEM private_key")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("fcm: CredentialsJSON private_key: %w", err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("fcm: CredentialsJSON private_key is not an RSA key")
	}
	return &sa, rk, nil
}

// tokenSource gets OAuth 2.0 access tokens for the service account with
// the JWT bearer grant of Google's "Using OAuth 2.0 for Server to Server
// Applications"; its AccessToken caches them for every Send. It is safe for
// concurrent use.
type tokenSource struct {
	*offlinepush.AccessToken // of exchange's tokens

	hc    *http.Client
	url   string
	email string
	keyID string
	key   *rsa.PrivateKey
	now   func() time.Time
}

func newTokenSource(hc *http.Client, authURL string, sa *serviceAccount, key *rsa.PrivateKey, now func() time.Time) *tokenSource {
	s := &tokenSource{hc: hc, url: authURL, email: sa.ClientEmail, keyID: sa.PrivateKeyID, key: key, now: now}
	s.AccessToken = offlinepush.NewAccessToken(vendorName, now, s.exchange)
	return s
}

// exchange gets a new access token and the time to stop using it,
// tokenMargin before Google says it expires. Its errors are
// *offlinepush.Error.
func (s *tokenSource) exchange(ctx context.Context) (string, time.Time, error) {
	assertion, err := s.assertion()
	if err != nil {
		return "", time.Time{}, &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindAuth, Err: err}
	}
	form := url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"assertion":  {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindAuth, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.hc.Do(req)
	if err != nil {
		return "", time.Time{}, &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindRetry, Err: fmt.Errorf("token exchange: %w", err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", time.Time{}, &offlinepush.Error{Vendor: vendorName, Kind: offlinepush.KindRetry, Err: fmt.Errorf("token exchange: %w", err)}
	}
	var r struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &r) // a body that is not JSON leaves the status to decide
	if resp.StatusCode == http.StatusOK && r.AccessToken != "" {
		life := time.Duration(r.ExpiresIn) * time.Second
		if life <= tokenMargin {
			life = 2 * tokenMargin // use it for a minute, not for nothing
		}
		return r.AccessToken, s.now().Add(life - tokenMargin), nil
	}
	e := &offlinepush.Error{
		Vendor: vendorName, Kind: offlinepush.KindRetry, Status: resp.StatusCode, Code: r.Error,
		RetryAfter: offlinepush.ParseRetryAfter(resp.Header.Get("Retry-After"), s.now()),
		Err:        fmt.Errorf("token exchange: %s", strings.TrimSpace(r.Error+" "+r.Description)),
	}
	// 400 invalid_grant (a bad or revoked key, a wrong clock), 401
	// invalid_client, 403: the credentials are wrong. 429, 5xx, or a 200
	// without a token: Google's trouble.
	if s := resp.StatusCode; s == http.StatusBadRequest || s == http.StatusUnauthorized || s == http.StatusForbidden {
		e.Kind = offlinepush.KindAuth
	}
	return "", time.Time{}, e
}

// assertion is the RS256 JWT that the service account signs to ask for an
// access token.
func (s *tokenSource) assertion() (string, error) {
	now := s.now()
	header, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid,omitempty"`
	}{"RS256", "JWT", s.keyID})
	claims, _ := json.Marshal(struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Iat   int64  `json:"iat"`
		Exp   int64  `json:"exp"`
	}{s.email, scope, s.url, now.Unix(), now.Add(assertionLife).Unix()})
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("fcm: sign token request: %w", err)
	}
	return input + "." + enc.EncodeToString(sig), nil
}
