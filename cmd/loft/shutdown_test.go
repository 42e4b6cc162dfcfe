package main

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestShutdownUnderLoad sends SIGTERM while clients send with many messages
// in flight. Every send is acked, refused with unavailable, or left
// unanswered by a connection closed with 1001; the process exits with
// status 0. Only acked sends were stored: after the restart, resending the
// others stores each of them anew, and the history holds every message
// exactly once.
func TestShutdownUnderLoad(t *testing.T) {
	rng := testRand(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	users := []*sendUser{
		newSendUser(t, "t0", "v0", "v1"),
		newSendUser(t, "t1", "v1", "v0"),
		newSendUser(t, "t2", "v0", "v1"),
	}
	devs := []*inboxDevice{{user: "v0", device: "phone"}, {user: "v1", device: "phone"}, {user: "v1", device: "laptop"}}
	led := newLedger(t)

	srv := startLoft(t, dir)
	led.begin("unavailable")
	waitFollowers := startFollowers(t, ctx, srv.addr, devs)
	waitSenders := startSenders(t, ctx, srv.addr, users, 128, func(u *sendUser) func() *outMsg { return u.generate(1 << 20) }, led, true)
	select {
	case <-led.firstAck:
	case <-ctx.Done():
		t.Fatal("no ack before the deadline")
	}
	delay := time.Duration(rng.IntN(300)) * time.Millisecond
	time.Sleep(delay) // the random moment of the SIGTERM
	if err := srv.term(); err != nil {
		t.Errorf("SIGTERM under load: %v, want exit status 0", err)
	}
	results := waitSenders()
	for _, r := range results {
		if websocket.CloseStatus(r.err) != websocket.StatusGoingAway {
			t.Errorf("%s: connection ended with %v, want close 1001", r.u.user, r.err)
		}
	}
	for i, err := range waitFollowers() {
		if websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("%s/%s: connection ended with %v, want close 1001", devs[i].user, devs[i].device, err)
		}
	}
	led.end()
	sent := 0
	for _, r := range results {
		sent += len(r.sent)
	}
	t.Logf("SIGTERM %v after the first ack: %d sends written, %d acked, %d refused as unavailable, %d unanswered",
		delay, sent, led.acks, led.errs["unavailable"], sent-led.acks-led.errs["unavailable"])
	if t.Failed() {
		return
	}

	srv = startLoft(t, dir)
	led.begin()
	results = startSenders(t, ctx, srv.addr, users, 128, func(u *sendUser) func() *outMsg { return resend(u.msgs, nil) }, led, false)()
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("%s resending after the restart: %v", r.u.user, r.err)
		}
	}
	led.end()
	for _, u := range users {
		for _, m := range u.msgs {
			switch {
			case m.ack == nil:
				t.Errorf("%s still unacked after resending", m.cid)
			case m.ackLife == 2 && m.ack.Duplicate:
				t.Errorf("%s was stored before the shutdown but not acked before the 1001 close: %s", m.cid, m.ack.ackString())
			}
		}
	}
	want := byRecipient(users)
	catchUp(t, ctx, srv.addr, devs, want)
	for _, d := range devs {
		checkInbox(t, d, want[d.user])
	}
	checkHistories(t, ctx, srv.addr, users)
	if err := srv.term(); err != nil {
		t.Errorf("SIGTERM when idle: %v, want exit status 0", err)
	}
}
