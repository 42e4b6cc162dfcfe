package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the request's signature:
//
//	Loft-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>
const SignatureHeader = "Loft-Signature"

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Verify's errors.
var (
	ErrMalformed = errors.New("webhook: malformed " + SignatureHeader + " header")
	ErrSignature = errors.New("webhook: signature does not match")
	ErrExpired   = errors.New("webhook: signature timestamp outside tolerance")
)

// sign returns the SignatureHeader value for body sent at t.
func sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a request from Loft on the receiving side: header is the
// Loft-Signature value, body the raw request body (before any JSON
// decoding), now the receiver's clock. It returns nil when one of the v1
// signatures is the HMAC-SHA256 of t + "." + body under secret and t is
// within tolerance of now (DefaultTolerance if tolerance <= 0), else
// ErrMalformed, ErrSignature or ErrExpired. The signature is compared in
// constant time, and checked before the timestamp, which it covers.
//
// The timestamp bounds replays to the tolerance window; a receiver that
// must refuse every replay also remembers the signatures it accepted
// within the window. Loft signs each attempt afresh, so a retried push
// arrives with a new timestamp and signature.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformed
		}
		switch k {
		case "t":
			if ts != "" {
				return ErrMalformed
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return ErrMalformed
			}
			sigs = append(sigs, sig)
		}
		// Other schemes are ignored, so that new ones can be added.
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrMalformed
	}
	want := mac(secret, ts, body)
	matched := false
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			matched = true
		}
	}
	if !matched {
		return ErrSignature
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return ErrExpired
	}
	return nil
}
