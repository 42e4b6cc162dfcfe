package chat

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/loftchat/loft/history"
)

// A client that stops reading is disconnected without slowing anyone else,
// and loses nothing: it gets everything on its next sync.
func TestSlowClientIsDroppedAndLosesNothing(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.SendQueue = 300
		c.WriteTimeout = time.Second
	})
	ts.online(t, "bob", "phone") // never reads again
	alice, _ := ts.login(t, "alice", "phone")
	// Enough to fill the socket buffers and then the queue.
	const n = 2000
	body := `{"t":"` + strings.Repeat("x", 15000) + `"}`
	go func() {
		for i := 0; i < n; i++ {
			alice.writeRaw(fmt.Sprintf(`{"type":"send","to":"bob","cid":"m%d","body":%s}`, i, body))
		}
	}()
	for i := 0; i < n; i++ {
		alice.expect("ack")
	}
	eventually(t, "the slow device dropped", func() bool { return !ts.presence.Online("bob", "phone") })

	bob, f := ts.login(t, "bob", "phone")
	if f.Head != n {
		t.Fatalf("head = %d, want %d", f.Head, n)
	}
	checkPts(t, bob.syncFrom(0), 0)
}

func TestSyncBelowRetentionAnswersReset(t *testing.T) {
	ts := newTestServerStore(t, history.Config{MaxPerConversation: 5}, nil)
	alice, _ := ts.login(t, "alice", "phone")
	for i := 0; i < 10; i++ {
		alice.sendMsg("bob", fmt.Sprint("m", i), `{}`)
	}
	if err := ts.store.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	bob, _ := ts.login(t, "bob", "phone")
	bob.write(map[string]any{"type": "sync", "id": "s", "after": 0})
	f := bob.expect("reset")
	if f.ID != "s" || f.Floor != 6 {
		t.Fatalf("reset = %s", f.Raw)
	}
	es := bob.syncFrom(f.Floor - 1)
	checkPts(t, es, 5)
	if len(es) != 5 || es[0].Seq != 6 {
		t.Fatalf("after reset got %+v", es)
	}
	bob.write(map[string]any{"type": "history", "id": "h", "conv": "d:alice:bob"})
	if h := bob.expect("history"); len(h.Messages) != 5 || h.More {
		t.Fatalf("history after retention = %s", h.Raw)
	}
}

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestTokensNeverReachTheLogs(t *testing.T) {
	var logs lockedBuffer
	ts := newTestServer(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	good := token(t, "alice", time.Hour)
	bad := good[:len(good)-4] + "AAAA"
	for _, tok := range []string{bad, good} {
		c := ts.dial(t)
		c.write(map[string]any{"type": "auth", "token": tok, "device": "phone"})
		c.read()
		c.conn.Close(websocket.StatusNormalClosure, "")
	}
	ts.stop()
	out := logs.String()
	if !strings.Contains(out, "auth failed") {
		t.Fatalf("the failed auth was not logged: %s", out)
	}
	for _, part := range append(strings.Split(good, "."), strings.Split(bad, ".")...) {
		if strings.Contains(out, part) {
			t.Fatalf("a token part %q is in the logs:\n%s", part, out)
		}
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, seed := range []string{
		`{"type":"send","id":"1","to":"bob","cid":"x","body":{"a":[1,2]}}`,
		`{"type":"sync","after":18446744073709551615}`,
		`{"type":"auth","token":"a.b.c","device":"d"}`,
		`{"type":"history","conv":"d:a:b","before":-1}`,
		`[]`, `{`, `null`, `{"type":1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := decodeFrame(data)
		if (fr == nil) == (err == nil) {
			t.Fatalf("decodeFrame(%q) = %v, %v", data, fr, err)
		}
		if err != nil {
			// Every rejection is a documented client error.
			fe, ok := err.(*frameError)
			if !ok || fe.code != CodeBadFrame || fe.msg == "" {
				t.Fatalf("decodeFrame(%q) error %v", data, err)
			}
			return
		}
		if fr.Type == "" || len(fr.ID) > maxIDLen {
			t.Fatalf("decodeFrame(%q) accepted %+v", data, fr)
		}
	})
}

func TestRateLimitDropsExcessFrames(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.RateLimit = 1 }) // bursts of 2
	c := ts.dial(t)
	for i := 0; i < 20; i++ {
		c.write(map[string]any{"type": "ping", "id": fmt.Sprint(i)})
	}
	pongs, limited := 0, 0
	for i := 0; i < 20; i++ {
		f, err := c.read()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case f.Type == "error" && f.Code == string(CodeRateLimited):
			limited++
		case f.Type == "error" && f.Code == string(CodeUnauthorized):
			pongs++ // answered: pings before auth are refused, not dropped
		default:
			t.Fatalf("unexpected %s", f.Raw)
		}
	}
	if pongs < 2 || limited < 10 {
		t.Fatalf("%d answered, %d rate limited", pongs, limited)
	}
}

// FuzzFastDecoderAgrees checks the reflection-free decoder against
// encoding/json: wherever the fast path answers, it must answer the same.
func FuzzFastDecoderAgrees(f *testing.F) {
	for _, seed := range []string{
		`{"type":"send","id":"1","to":"bob","cid":"x","body":{"a":[1,"}",{"b":null}]}}`,
		`{"type":"sync","after":18446744073709551615}`,
		`{"type":"sync","after":18446744073709551616}`,
		`{"type":"history","conv":"d:a:b","before":3,"limit":10}`,
		`{"type":"read","conv":"d:a:b","seq":01}`,
		`{"type":"send","body":{"a":"\"}"},"to":"x"}`,
		` {"type" : "ping" , "id":"p"} `,
		`{"type":"ping","type":"send"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeFrameFast(data)
		if !ok {
			return
		}
		slow, err := decodeFrameSlow(data)
		if err != nil {
			t.Fatalf("fast path accepted %q, encoding/json says %v", data, err)
		}
		same := fast.Type == slow.Type && fast.ID == slow.ID && fast.Token == slow.Token &&
			fast.Device == slow.Device && fast.Platform == slow.Platform && fast.To == slow.To &&
			fast.CID == slow.CID && bytes.Equal(fast.Body, slow.Body) && fast.Conv == slow.Conv &&
			fast.Before == slow.Before && fast.Limit == slow.Limit &&
			eqPtr(fast.After, slow.After) && eqPtr(fast.Pts, slow.Pts) && eqPtr(fast.Seq, slow.Seq)
		if !same {
			t.Fatalf("decoders disagree on %q:\nfast %+v\nslow %+v", data, fast, slow)
		}
	})
}

func eqPtr(a, b *uint64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
