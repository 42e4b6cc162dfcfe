package chat

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The seed corpora of these targets and of FuzzDecodeFrame and
// FuzzFastDecoderAgrees are in testdata/fuzz: a valid frame of every type and
// the edge cases of the decoders. `make fuzz` runs each target for a while.

// FuzzVerifyToken checks the JWT verifier on any string a client may send
// as its token: it never panics, every refusal wraps ErrBadToken, and what it
// accepts is, by an independent check, an HS256 token signed with the
// server's secret, for a valid user id, not expired.
func FuzzVerifyToken(f *testing.F) {
	v, err := NewJWTVerifier(TokenConfig{Secret: testSecret})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(token(f, "alice", time.Hour))
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Verify(tok)
		if err != nil {
			if !errors.Is(err, ErrBadToken) {
				t.Fatalf("Verify(%q) = %v, not an ErrBadToken", tok, err)
			}
			return
		}
		if !ValidID(c.User) || time.Until(c.Expires) < -30*time.Second {
			t.Fatalf("Verify(%q) accepted %+v", tok, c)
		}
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("Verify accepted %q, not three segments", tok)
		}
		var head struct{ Alg string }
		raw, err := base64.RawURLEncoding.DecodeString(parts[0])
		if err != nil || json.Unmarshal(raw, &head) != nil || head.Alg != "HS256" {
			t.Fatalf("Verify accepted %q with header %q", tok, raw)
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		mac := hmac.New(sha256.New, testSecret)
		mac.Write([]byte(parts[0] + "." + parts[1]))
		if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
			t.Fatalf("Verify accepted %q, whose signature is not the secret's", tok)
		}
	})
}

// serverFrameTypes are the frames a server may send.
var serverFrameTypes = map[string]bool{
	"authed": true, "ack": true, "messages": true, "synced": true, "reset": true,
	"cursor": true, "history": true, "conversations": true, "marked": true,
	"receipt": true, "pong": true, "error": true,
}

var errorCodes = map[Code]bool{
	CodeBadFrame: true, CodeUnknownType: true, CodeTooLarge: true, CodeUnauthorized: true,
	CodeForbidden: true, CodeRateLimited: true, CodeConflict: true, CodeNotFound: true,
	CodeUnavailable: true, CodeInternal: true,
}

// FuzzServeFrame sends each input as one text frame over an authenticated
// WebSocket to a live server on a real store. Whatever the frame, the server
// answers only with documented frames (JSON objects of a known type; errors
// with a known code and a message), and the connection and the server stay
// up: a ping behind the frame is answered. "$TOKEN" in an input becomes a
// valid token for the session's user, so that re-auth frames get past the
// signature. The server keeps its state between inputs (sends are stored),
// as a real one does.
func FuzzServeFrame(f *testing.F) {
	f.Add([]byte(`{"type":"send","id":"m","to":"bob","cid":"c","body":{"text":"hi"}}`))
	ts := newTestServer(f, func(c *Config) { c.RateLimit = 1e9 })
	tok := token(f, "fuzz", 24*time.Hour)
	c, _ := ts.login(f, "fuzz", "fuzzer")
	limit := ts.cfg.MaxBody + 4096
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		data = bytes.ReplaceAll(data, []byte("$TOKEN"), []byte(tok))
		if len(data) > limit {
			return // closed with 1009, as TestHugeFrameClosesWith1009 checks
		}
		n++
		pong := fmt.Sprintf("fuzz-pong-%d", n)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.conn.Write(ctx, websocket.MessageText, data); err != nil {
			t.Fatalf("write: %v", err)
		}
		if err := c.conn.Write(ctx, websocket.MessageText, []byte(`{"type":"ping","id":"`+pong+`"}`)); err != nil {
			t.Fatalf("write ping: %v", err)
		}
		for {
			_, out, err := c.conn.Read(ctx)
			if err != nil {
				t.Fatalf("after %q the connection ended: %v", data, err)
			}
			var fr struct {
				Type    string `json:"type"`
				ID      string `json:"id"`
				Code    Code   `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(out, &fr); err != nil {
				t.Fatalf("after %q the server sent %q: %v", data, out, err)
			}
			if !serverFrameTypes[fr.Type] || (fr.Type == "error" && (!errorCodes[fr.Code] || fr.Message == "")) {
				t.Fatalf("after %q the server sent %s", data, out)
			}
			if fr.Type == "pong" && fr.ID == pong {
				return
			}
		}
	})
}
