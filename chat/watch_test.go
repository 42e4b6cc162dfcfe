package chat

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Presence is visible only to users who share a conversation, and
// changes are pushed at the user level: online with the first device,
// offline with last_seen after the last.
func TestPresenceOnlyForConversationPeers(t *testing.T) {
	ts := newTestServer(t, nil)
	alice := ts.online(t, "alice", "phone")
	alice.sendMsg("bob", "hello", `{"text":"hi"}`) // alice and bob share a conversation
	f := ok(t, alice.request(map[string]any{"type": "presence_sub", "users": []string{"bob", "carol"}}))
	if fmt.Sprint(f.Denied) != "[carol]" {
		t.Fatalf("presence_sub answered %s, want carol denied", f.Raw)
	}
	bobPhone := ts.online(t, "bob", "phone")
	if p := alice.expect("presence"); p.User != "bob" || !p.Online {
		t.Fatalf("got %s, want bob online", p.Raw)
	}
	// A second device is no change; the last one leaving is.
	bobDesk := ts.online(t, "bob", "desk")
	bobPhone.conn.Close(websocket.StatusNormalClosure, "")
	bobDesk.conn.Close(websocket.StatusNormalClosure, "")
	p := alice.expect("presence")
	if p.User != "bob" || p.Online || p.LastSeen == 0 {
		t.Fatalf("got %s, want bob offline with last_seen", p.Raw)
	}
	// carol comes and goes: alice hears nothing of it.
	carol := ts.online(t, "carol", "phone")
	carol.conn.Close(websocket.StatusNormalClosure, "")
	eventually(t, "carol offline", func() bool { return !ts.presence.Online("carol", "phone") })
	// A fresh subscription reports bob's state now, last_seen included.
	f = ok(t, alice.request(map[string]any{"type": "presence_sub", "users": []string{"bob"}}))
	if !strings.Contains(string(f.Raw), `"user":"bob","online":false,"last_seen":`) || strings.Contains(string(f.Raw), `"last_seen":0`) {
		t.Fatalf("presence_state = %s", f.Raw)
	}
	ok(t, alice.request(map[string]any{"type": "presence_unsub", "users": []string{"bob"}}))
	ts.online(t, "bob", "phone")
	if f := alice.request(map[string]any{"type": "ping"}); f.Type != "pong" {
		t.Fatalf("after unsubscribing, got %s before pong", f.Raw)
	}
}

func TestTypingRelayedAndLimited(t *testing.T) {
	clk := &testClock{t: time.Now()} // frozen: the bucket does not refill
	ts := newTestServer(t, func(c *Config) { c.TypingRate = 2; c.Now = clk.Now })
	alice := ts.online(t, "alice", "phone")
	bob := ts.online(t, "bob", "phone")
	ack := alice.sendMsg("bob", "m1", `{"text":"hi"}`)
	bob.entries(1)

	alice.write(map[string]any{"type": "typing", "conv": ack.Conv})
	f := bob.expect("typing")
	if f.User != "alice" || f.Conv != ack.Conv || f.State != "start" {
		t.Fatalf("bob got %s", f.Raw)
	}
	// Never stored: not in bob's history.
	h := bob.request(map[string]any{"type": "history", "conv": ack.Conv})
	if strings.Contains(string(h.Raw), "typing") {
		t.Fatalf("typing stored: %s", h.Raw)
	}
	// Typing to someone alice shares no conversation with: not found.
	wantCode(t, alice.request(map[string]any{"type": "typing", "conv": "d:alice:zed"}), CodeNotFound)
	// Bursts of 4 pass (2 spent above): of 5 more, 2 pass and 3 are refused.
	for i := range 5 {
		alice.write(map[string]any{"type": "typing", "id": fmt.Sprint("t", i), "conv": ack.Conv, "state": "stop"})
	}
	alice.write(map[string]any{"type": "ping", "id": "p"})
	limited := 0
	for f := alice.expect("error"); ; f = alice.expect("error") {
		if f.Code != string(CodeRateLimited) {
			t.Fatalf("got %s", f.Raw)
		}
		if limited++; limited == 3 {
			break
		}
	}
	alice.expect("pong")
	// bob got the ones that passed, and only those.
	for range 2 {
		if f := bob.expect("typing"); f.State != "stop" {
			t.Fatalf("bob got %s", f.Raw)
		}
	}
	if f := bob.request(map[string]any{"type": "ping"}); f.Type != "pong" {
		t.Fatalf("bob got %s, want no more typing", f.Raw)
	}
}
