package chat

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A device that stops reading stalls only its own writer: while bob's
// socket is full and his writer waits out a long write timeout, carol gets
// her messages at once (the harness's reads give up after 10 s, far short
// of the one-minute write timeout bob's writer is stuck in), and bob is
// neither dropped nor loses anything.
func TestStalledReaderDoesNotSlowOthers(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.WriteTimeout = time.Minute
		c.SendQueue = 4096
		c.RateLimit = 1e6
	})
	bob := ts.online(t, "bob", "phone") // reads nothing from here on
	carol := ts.online(t, "carol", "phone")
	alice, _ := ts.login(t, "alice", "phone")

	// 1,000 entries of 15 KB: more than loopback socket buffers hold, fewer
	// than bob's queue does, so his writer blocks in a write.
	const stall = 1000
	body := `{"t":"` + strings.Repeat("x", 15000) + `"}`
	go func() {
		for i := range stall {
			alice.writeRaw(fmt.Sprintf(`{"type":"send","to":"bob","cid":"b%d","body":%s}`, i, body))
		}
	}()
	for range stall {
		alice.expect("ack")
	}

	for i := range 20 {
		alice.sendMsg("carol", fmt.Sprint("c", i), `{"text":"still here"}`)
	}
	got := 0
	for got < 20 {
		f := carol.expect("messages")
		got += len(f.Messages)
	}
	if got != 20 {
		t.Fatalf("carol got %d entries, want 20", got)
	}
	if !ts.presence.Online("bob", "phone") {
		t.Fatal("bob was dropped; the test needs his writer blocked, not closed")
	}
	if !writerBusy(ts.srv, "bob") {
		t.Fatal("bob's writer is not in a write: the stall did not happen")
	}

	// bob reconnects and loses nothing.
	bob.conn.CloseNow()
	eventually(t, "bob's stalled session ended", func() bool { return !ts.presence.Online("bob", "phone") })
	bob2, f := ts.login(t, "bob", "phone")
	if f.Head != stall {
		t.Fatalf("bob's head = %d, want %d", f.Head, stall)
	}
	checkPts(t, bob2.syncFrom(0), 0)
}

// writerBusy reports whether user's session has a writer pass under way
// with frames still queued behind it.
func writerBusy(srv *Server, user string) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for sess := range srv.sessions {
		if sess.user != user {
			continue
		}
		sess.q.mu.Lock()
		busy := sess.q.running && len(sess.q.items) > 0
		sess.q.mu.Unlock()
		return busy
	}
	return false
}
