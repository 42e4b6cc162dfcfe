package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	key := []byte(secret)
	body := []byte(`{"token":"t","title":"hi"}`)
	good := sign(key, t0, body)

	// The header is what the documentation tells receivers to compute.
	h := hmac.New(sha256.New, key)
	h.Write([]byte(strconv.FormatInt(t0.Unix(), 10) + "." + string(body)))
	if want := "t=" + strconv.FormatInt(t0.Unix(), 10) + ",v1=" + hex.EncodeToString(h.Sum(nil)); good != want {
		t.Fatalf("sign = %q, want %q", good, want)
	}
	other := sign([]byte("another-secret-entirely"), t0, body)

	tests := []struct {
		name      string
		secret    []byte
		header    string
		body      []byte
		now       time.Time
		tolerance time.Duration
		want      error
	}{
		{"valid", key, good, body, t0, time.Minute, nil},
		{"valid, receiver clock a little behind", key, good, body, t0.Add(-30 * time.Second), time.Minute, nil},
		{"valid at the tolerance's edge", key, good, body, t0.Add(time.Minute), time.Minute, nil},
		{"spaces and an unknown scheme", key, " t=" + strconv.FormatInt(t0.Unix(), 10) + ", v0=abc, v1=" + good[len("t=1772366400,v1="):], body, t0, time.Minute, nil},
		{"a rotated secret's signature first", key, other + "," + good[len("t=1772366400,"):], body, t0, time.Minute, nil},
		{"default tolerance", key, good, body, t0.Add(4 * time.Minute), 0, nil},
		{"replayed after the default tolerance", key, good, body, t0.Add(6 * time.Minute), 0, ErrExpired},
		{"replayed later", key, good, body, t0.Add(2 * time.Minute), time.Minute, ErrExpired},
		{"from the future", key, good, body, t0.Add(-2 * time.Minute), time.Minute, ErrExpired},
		{"body changed", key, good, []byte(`{"token":"t","title":"hi!"}`), t0, time.Minute, ErrSignature},
		{"wrong secret", []byte("another-secret-entirely"), good, body, t0, time.Minute, ErrSignature},
		{"timestamp changed", key, "t=" + strconv.FormatInt(t0.Unix()+1, 10) + good[len("t=1772366400"):], body, t0, time.Minute, ErrSignature},
		{"empty", key, "", body, t0, time.Minute, ErrMalformed},
		{"no signature", key, "t=1772366400", body, t0, time.Minute, ErrMalformed},
		{"no timestamp", key, good[len("t=1772366400,"):], body, t0, time.Minute, ErrMalformed},
		{"two timestamps", key, "t=1," + good, body, t0, time.Minute, ErrMalformed},
		{"signature not hex", key, "t=1772366400,v1=zz", body, t0, time.Minute, ErrMalformed},
		{"signature truncated", key, good[:len(good)-2], body, t0, time.Minute, ErrMalformed},
		{"no equals sign", key, "t1772366400", body, t0, time.Minute, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.header, tt.body, tt.now, tt.tolerance)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}
