package chat

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Bad input over the wire: every test drives a real server with misbehaving
// clients and checks three things a user would notice: the bad client gets
// the answer docs/protocol.md promises, a fresh client can still log in and
// exchange a message, and the server's goroutines go back to what they were.

// goroutineBaseline takes the goroutine count of the running server and
// returns a check for the end of the test that waits until the count is back
// to it. A first exchange starts whatever the server starts lazily, and its
// sessions end before the count is taken.
func (ts *testServer) goroutineBaseline(tb testing.TB) (check func()) {
	tb.Helper()
	ts.checkAlive(tb)
	eventually(tb, "the warm-up sessions to end", func() bool {
		buf := make([]byte, 1<<20)
		return !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "chat.(*session)")
	})
	base := runtime.NumGoroutine()
	return func() {
		tb.Helper()
		deadline := time.Now().Add(10 * time.Second)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				tb.Fatalf("%d goroutines, %d before the bad clients:\n%s",
					runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
			}
			<-tick.C
		}
	}
}

var probes atomic.Int64

// checkAlive proves the server still serves: two fresh users log in, one
// sends the other a message, it is acked and delivered live. Both
// connections are closed again.
func (ts *testServer) checkAlive(tb testing.TB) {
	tb.Helper()
	n := probes.Add(1)
	from, to := fmt.Sprintf("probe%d-a", n), fmt.Sprintf("probe%d-b", n)
	recv := ts.online(tb, to, "phone")
	send, _ := ts.login(tb, from, "phone")
	ack := send.sendMsg(to, "alive", `{"text":"still there?"}`)
	if es := recv.entries(1); es[0].ID != ack.MsgID {
		tb.Fatalf("the probe received %+v, want message %d", es[0], ack.MsgID)
	}
	send.conn.Close(websocket.StatusNormalClosure, "")
	recv.conn.Close(websocket.StatusNormalClosure, "")
}

// nested returns depth levels of open, then of close.
func nested(open, close string, depth int) string {
	return strings.Repeat(open, depth) + strings.Repeat(close, depth)
}

// randomBytes returns n bytes from a fixed seed.
func randomBytes(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// TestBadFrames sends one malformed or out-of-range frame per case over an
// authenticated connection. Each is answered with an error frame, the
// connection stays up (a ping behind it is answered, with nothing else in
// between), and the server is unhurt.
func TestBadFrames(t *testing.T) {
	// A large MaxBody lifts the read limit, so that 100,000 levels of
	// nesting reach the decoder instead of the 1009 close.
	ts := newTestServer(t, func(c *Config) { c.MaxBody = 1 << 20 })
	// mallory has a conversation, so that history and read reach the store.
	mallory, _ := ts.login(t, "mallory", "laptop")
	mallory.sendMsg("victim", "setup", `{"text":"hi"}`)
	mallory.conn.Close(websocket.StatusNormalClosure, "")

	const maxU64 = "18446744073709551615"
	sendWith := func(body string) string {
		return `{"type":"send","id":"m","to":"victim","cid":"c1","body":` + body + `}`
	}
	tests := []struct {
		name    string
		binary  bool
		frame   string
		want    Code   // the error code; "" for a frame answered normally
		wantTyp string // with want "": the answer's type
		wantID  string // the error's id: the request's, once it could be read
	}{
		{name: "random bytes", frame: string(randomBytes(1, 4096)), want: CodeBadFrame},
		{name: "random bytes after an open brace", frame: "{" + string(randomBytes(2, 512)), want: CodeBadFrame},
		{name: "random printable ASCII", frame: strings.Map(func(r rune) rune { return ' ' + r%95 }, string(randomBytes(3, 1024))), want: CodeBadFrame},
		{name: "NUL bytes", frame: "\x00\x00\x00\x00", want: CodeBadFrame},
		{name: "empty frame", frame: "", want: CodeBadFrame},

		{name: "invalid UTF-8 in a value", frame: `{"type":"ping","id":"p` + "\xff" + `"}`, want: CodeBadFrame},
		{name: "invalid UTF-8 in a key", frame: `{"ty` + "\xfe" + `pe":"ping"}`, want: CodeBadFrame},
		{name: "overlong UTF-8", frame: `{"type":"ping","id":"` + "\xc0\xaf" + `"}`, want: CodeBadFrame},
		{name: "UTF-16 surrogate in UTF-8", frame: `{"type":"ping","id":"` + "\xed\xa0\x80" + `"}`, want: CodeBadFrame},
		{name: "truncated UTF-8", frame: `{"type":"ping","id":"` + "\xe2\x82" + `"}`, want: CodeBadFrame},
		// The body is stored and sent to the recipient as is: a browser
		// would drop a connection whose text frame is not UTF-8.
		{name: "invalid UTF-8 in a send body", frame: sendWith(`{"text":"` + "\xff\xfe" + `"}`), want: CodeBadFrame},

		{name: "100k nested arrays", frame: nested("[", "]", 100_000), want: CodeBadFrame},
		{name: "100k nested objects", frame: nested(`{"a":`, "}", 100_000), want: CodeBadFrame},
		{name: "100k nested arrays in a send body", frame: sendWith(`{"a":` + nested("[", "]", 100_000) + `}`), want: CodeBadFrame},
		{name: "100k nested objects in a send body", frame: sendWith(nested(`{"a":`, "}", 100_000) + "}"), want: CodeBadFrame},

		{name: "after 1e400", frame: `{"type":"sync","id":"n","after":1e400}`, want: CodeBadFrame},
		{name: "after beyond uint64", frame: `{"type":"sync","id":"n","after":99999999999999999999999}`, want: CodeBadFrame},
		{name: "after negative", frame: `{"type":"sync","id":"n","after":-1}`, want: CodeBadFrame},
		{name: "after fractional", frame: `{"type":"sync","id":"n","after":1.5}`, want: CodeBadFrame},
		{name: "after max uint64", frame: `{"type":"sync","id":"n","after":` + maxU64 + `}`, want: CodeBadFrame, wantID: "n"},
		{name: "pts 1e400", frame: `{"type":"received","id":"n","pts":1e400}`, want: CodeBadFrame},
		{name: "pts beyond uint64", frame: `{"type":"received","id":"n","pts":99999999999999999999999}`, want: CodeBadFrame},
		{name: "pts negative", frame: `{"type":"received","id":"n","pts":-42}`, want: CodeBadFrame},
		{name: "pts max uint64", frame: `{"type":"received","id":"n","pts":` + maxU64 + `}`, want: CodeBadFrame, wantID: "n"},
		{name: "seq 1e400", frame: `{"type":"read","id":"n","conv":"d:mallory:victim","seq":1e400}`, want: CodeBadFrame},
		{name: "seq beyond uint64", frame: `{"type":"read","id":"n","conv":"d:mallory:victim","seq":99999999999999999999999}`, want: CodeBadFrame},
		{name: "seq negative", frame: `{"type":"read","id":"n","conv":"d:mallory:victim","seq":-1}`, want: CodeBadFrame},
		{name: "seq max uint64", frame: `{"type":"read","id":"n","conv":"d:mallory:victim","seq":` + maxU64 + `}`, want: CodeBadFrame, wantID: "n"},
		{name: "limit 1e400", frame: `{"type":"history","id":"n","conv":"d:mallory:victim","limit":1e400}`, want: CodeBadFrame},
		{name: "limit beyond uint64", frame: `{"type":"history","id":"n","conv":"d:mallory:victim","limit":99999999999999999999999}`, want: CodeBadFrame},
		{name: "limit beyond int32", frame: `{"type":"history","id":"n","conv":"d:mallory:victim","limit":2147483648}`, want: CodeBadFrame, wantID: "n"},
		{name: "limit negative", frame: `{"type":"history","id":"n","conv":"d:mallory:victim","limit":-1}`, want: CodeBadFrame, wantID: "n"},
		{name: "before negative", frame: `{"type":"history","id":"n","conv":"d:mallory:victim","before":-1}`, want: CodeBadFrame},
		{name: "before max uint64", frame: `{"type":"history","id":"n","conv":"d:mallory:victim","before":` + maxU64 + `}`, wantTyp: "history"},

		{name: "binary frame", binary: true, frame: `{"type":"ping","id":"b"}`, want: CodeBadFrame},
		{name: "empty binary frame", binary: true, frame: "", want: CodeBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines := ts.goroutineBaseline(t)
			c, _ := ts.login(t, "mallory", "laptop")
			typ := websocket.MessageText
			if tt.binary {
				typ = websocket.MessageBinary
			}
			if err := c.conn.Write(t.Context(), typ, []byte(tt.frame)); err != nil {
				t.Fatal(err)
			}
			answers := c.untilPong()
			if len(answers) != 1 {
				t.Fatalf("got %d answers before the pong, want 1: %v", len(answers), answers)
			}
			f := answers[0]
			switch {
			case tt.want == "" && f.Type != tt.wantTyp:
				t.Fatalf("got %s, want a %q frame", f.Raw, tt.wantTyp)
			case tt.want != "" && (f.Type != "error" || f.Code != string(tt.want) || f.Message == ""):
				t.Fatalf("got %s, want an error %q with a message", f.Raw, tt.want)
			case tt.want != "" && f.ID != tt.wantID:
				t.Fatalf("error %s has id %q, want %q", f.Raw, f.ID, tt.wantID)
			}
			c.conn.Close(websocket.StatusNormalClosure, "")
			ts.checkAlive(t)
			checkGoroutines()
		})
	}
	// None of the bad sends was stored.
	victim, _ := ts.login(t, "victim", "phone")
	if es := victim.syncFrom(0); len(es) != 1 || es[0].CID != "" || string(es[0].Body) != `{"text":"hi"}` {
		t.Fatalf("victim's inbox = %+v, want only the setup message", es)
	}
}

// A frame over the read limit closes the connection with 1009.
func TestHugeFrameClosesWith1009(t *testing.T) {
	ts := newTestServer(t, nil)
	checkGoroutines := ts.goroutineBaseline(t)
	for _, authed := range []bool{false, true} {
		c := ts.dial(t)
		if authed {
			c.write(map[string]any{"type": "auth", "id": "a", "token": token(t, "big", time.Hour), "device": "phone"})
			c.expect("authed")
		}
		frame := `{"type":"send","id":"m","to":"bob","cid":"c","body":{"t":"` + strings.Repeat("x", 10<<20) + `"}}`
		// The server stops reading at the limit, so the write may fail.
		go c.conn.Write(context.Background(), websocket.MessageText, []byte(frame))
		c.expectClose(CloseTooBig)
		c.conn.CloseNow()
	}
	ts.checkAlive(t)
	checkGoroutines()
}

// A flood beyond the rate limit is answered with rate_limited; the flooding
// connection stays up, and other clients keep sending and receiving.
func TestFloodIsRateLimitedWithoutHurtingOthers(t *testing.T) {
	const rate, flood = 200, 3000 // bursts of 400
	ts := newTestServer(t, func(c *Config) { c.RateLimit = rate })
	checkGoroutines := ts.goroutineBaseline(t)
	flooder, _ := ts.login(t, "flooder", "bot")

	var pongs, limited int
	done := make(chan error, 1)
	go func() {
		// Read concurrently, as a client must: a reader that stops is
		// closed as slow, which is another test.
		for i := 0; i < flood; i++ {
			_, data, err := flooder.conn.Read(context.Background())
			var f frame
			if err == nil {
				err = json.Unmarshal(data, &f)
				f.Raw = data
			}
			if err != nil {
				done <- fmt.Errorf("after %d answers (%d pongs): %w", i, pongs, err)
				return
			}
			switch {
			case f.Type == "pong" && f.ID == fmt.Sprint(i):
				pongs++
			case f.Type == "error" && f.Code == string(CodeRateLimited) && f.ID == fmt.Sprint(i):
				limited++
			default:
				done <- fmt.Errorf("answer %d is %s", i, f.Raw)
				return
			}
		}
		done <- nil
	}()
	writeErr := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < flood && err == nil; i++ {
			err = flooder.conn.Write(context.Background(), websocket.MessageText, fmt.Appendf(nil, `{"type":"ping","id":"%d"}`, i))
		}
		writeErr <- err
	}()
	// While the flood runs, others are served.
	ts.checkAlive(t)
	if err := <-writeErr; err != nil {
		t.Fatalf("flood write: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if limited == 0 || pongs < 2*rate || pongs == flood {
		t.Fatalf("%d pongs and %d rate_limited of %d pings", pongs, limited, flood)
	}
	// The flooder's connection is still good once it slows down.
	eventually(t, "a pong after the flood", func() bool {
		flooder.write(map[string]any{"type": "ping", "id": "after"})
		f, err := flooder.read()
		if err != nil {
			t.Fatalf("the flooder's connection ended: %v", err)
		}
		return f.Type == "pong"
	})
	flooder.conn.Close(websocket.StatusNormalClosure, "")
	checkGoroutines()
}

// serveWithReadHeaderTimeout serves ts's chat server on a second HTTP
// server with a ReadHeaderTimeout, as cmd/loft does, and dials it from now
// on. It returns its address.
func (ts *testServer) serveWithReadHeaderTimeout(tb testing.TB, d time.Duration) string {
	tb.Helper()
	mux := http.NewServeMux()
	mux.Handle("/v1/ws", ts.srv)
	hs := httptest.NewUnstartedServer(mux)
	hs.Config.ReadHeaderTimeout = d
	hs.Start()
	tb.Cleanup(hs.Close)
	addr := hs.Listener.Addr().String()
	ts.url = "ws://" + addr + "/v1/ws"
	return addr
}

// Slowloris: connections that send part of an upgrade request and then
// nothing are dropped after the read-header timeout, and meanwhile the
// server serves everyone else.
func TestSlowlorisRequestsAreDropped(t *testing.T) {
	ts := newTestServer(t, nil)
	addr := ts.serveWithReadHeaderTimeout(t, 200*time.Millisecond)
	checkGoroutines := ts.goroutineBaseline(t)
	const n = 100
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		partial := "GET /v1/ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		if i%2 == 1 {
			partial = "GET /v1/ws HT" // not even a request line
		}
		if _, err := io.WriteString(c, partial); err != nil {
			t.Fatal(err)
		}
	}
	ts.checkAlive(t)
	for i, c := range conns {
		// The server must close: reading ends with EOF (after a 400 or
		// 408 response at most), not with the client's own deadline.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := io.ReadAll(bufio.NewReader(c))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection %d still open after 10 s (read %q)", i, resp)
		}
		if len(resp) > 0 && !strings.HasPrefix(string(resp), "HTTP/1.1 4") {
			t.Fatalf("connection %d got %q", i, resp)
		}
		c.Close()
	}
	ts.checkAlive(t)
	checkGoroutines()
}

// Many WebSocket connections that never authenticate are closed with 4000
// after the auth timeout, and do not keep a normal client from working.
func TestUnauthenticatedConnectionsAreClosed(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.AuthTimeout = 500 * time.Millisecond })
	checkGoroutines := ts.goroutineBaseline(t)
	const n = 200
	idle := make([]*client, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range idle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var conn *websocket.Conn
			conn, _, errs[i] = websocket.Dial(ctx, ts.url, nil)
			idle[i] = &client{tb: t, conn: conn}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
	}
	ts.checkAlive(t)
	for _, c := range idle {
		c.expectClose(CloseAuthTimeout)
		c.conn.CloseNow()
	}
	ts.checkAlive(t)
	checkGoroutines()
}
