package main

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// Crash tests: SIGKILL the real binary under load, restart it on the same
// data directory, and check what a user would see: no acked message lost,
// none delivered twice or out of order, no number reused.

// TestCrashKeepsAckedMessages kills the server at a random moment under
// load. After the restart, senders resend their whole outbox with the same
// cids: acked messages come back as duplicates with the original ack,
// unacked ones are stored at most once. Each receiving device, resyncing
// from the last pts it processed, then holds every message exactly once.
func TestCrashKeepsAckedMessages(t *testing.T) {
	rng := testRand(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	// Four senders, each writing to two of three receivers; r0 has two
	// devices.
	users := []*sendUser{
		newSendUser(t, "s0", "r0", "r1"),
		newSendUser(t, "s1", "r1", "r2"),
		newSendUser(t, "s2", "r2", "r0"),
		newSendUser(t, "s3", "r0", "r1"),
	}
	devs := []*inboxDevice{
		{user: "r0", device: "phone"}, {user: "r0", device: "laptop"},
		{user: "r1", device: "phone"}, {user: "r2", device: "phone"},
	}
	led := newLedger(t)

	// Life 1: load, then SIGKILL.
	srv := startLoft(t, dir)
	led.begin()
	waitFollowers := startFollowers(t, ctx, srv.addr, devs)
	waitSenders := startSenders(t, ctx, srv.addr, users, 64, func(u *sendUser) func() *outMsg { return u.generate(3000) }, led, false)
	select {
	case <-led.firstAck:
	case <-ctx.Done():
		t.Fatal("no ack before the deadline")
	}
	delay := time.Duration(rng.IntN(400)) * time.Millisecond
	time.Sleep(delay) // the random moment of the crash
	srv.kill()
	results := waitSenders()
	waitFollowers()
	led.end()
	sent, acked, live := 0, led.acks, 0
	for _, r := range results {
		sent += len(r.sent)
	}
	for _, d := range devs {
		live += len(d.entries)
	}
	t.Logf("SIGKILL %v after the first ack: %d sends written, %d acked, %d entries delivered live", delay, sent, acked, live)
	if t.Failed() {
		return
	}

	// Life 2: resend everything, then every device catches up.
	srv = startLoft(t, dir)
	led.begin()
	results = startSenders(t, ctx, srv.addr, users, 64, func(u *sendUser) func() *outMsg { return resend(u.msgs, nil) }, led, false)()
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("%s resending after the restart: %v", r.u.user, r.err)
		}
	}
	led.end()
	t.Logf("after the restart: %d resends acked, %d of them duplicates", led.acks, led.dups)
	for _, u := range users {
		if n := len(u.unacked()); n > 0 {
			t.Fatalf("%s: %d messages still unacked after resending", u.user, n)
		}
	}
	want := byRecipient(users)
	catchUp(t, ctx, srv.addr, devs, want)
	for _, d := range devs {
		checkInbox(t, d, want[d.user])
	}
	checkHistories(t, ctx, srv.addr, users)
}

// restartCycles is how many crash/restart cycles TestCrashRestartCycles
// runs: LOFTTEST_CYCLES, or 50 (about 10 s with -race). A soak:
//
//	LOFTTEST_CYCLES=1000 go test -run TestCrashRestartCycles ./cmd/loft/
func restartCycles(tb testing.TB) int {
	s := os.Getenv("LOFTTEST_CYCLES")
	if s == "" {
		return 50
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		tb.Fatalf("LOFTTEST_CYCLES=%q: want a positive number", s)
	}
	return n
}

// TestCrashRestartCycles crashes the server over and over on one data
// directory, each time a short moment into a load that begins by resending
// what the last crash left unacked. Across all cycles, message ids, seqs and
// inbox positions only grow and are never given to two messages, every
// acked message survives, and devices that resync from their cursor each
// cycle see every message exactly once.
func TestCrashRestartCycles(t *testing.T) {
	cycles := restartCycles(t)
	rng := testRand(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second+time.Duration(cycles)*time.Second)
	defer cancel()

	users := []*sendUser{
		newSendUser(t, "c0", "q0", "q1"),
		newSendUser(t, "c1", "q1", "q0"),
		newSendUser(t, "c2", "q0", "q1"),
	}
	devs := []*inboxDevice{{user: "q0", device: "phone"}, {user: "q1", device: "phone"}}
	led := newLedger(t)
	start := time.Now()
	inFlight := 0 // cycles crashed while sends awaited their ack
	for cycle := 1; cycle <= cycles; cycle++ {
		srv := startLoft(t, dir)
		led.begin()
		waitFollowers := startFollowers(t, ctx, srv.addr, devs)
		waitSenders := startSenders(t, ctx, srv.addr, users, 16, func(u *sendUser) func() *outMsg {
			return resend(u.unacked(), u.generate(len(u.msgs)+400))
		}, led, false)
		select {
		case <-led.firstAck:
		case <-ctx.Done():
			t.Fatalf("cycle %d: no ack before the deadline", cycle)
		}
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond) // the random moment of the crash
		srv.kill()
		waitSenders()
		waitFollowers()
		led.end()
		if t.Failed() {
			t.Fatalf("cycle %d failed", cycle)
		}
		unacked := 0
		for _, u := range users {
			unacked += len(u.unacked())
		}
		if unacked > 0 {
			inFlight++
		}
		if cycle%10 == 0 {
			t.Logf("cycle %d after %v: %d of the cycles crashed during the load", cycle, time.Since(start).Round(time.Millisecond), inFlight)
		}
	}

	srv := startLoft(t, dir)
	led.begin()
	results := startSenders(t, ctx, srv.addr, users, 64, func(u *sendUser) func() *outMsg { return resend(u.unacked(), nil) }, led, false)()
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("%s resending: %v", r.u.user, r.err)
		}
	}
	led.end()
	want := byRecipient(users)
	t.Logf("%d messages in all, to be delivered to %d devices", len(want["q0"])+len(want["q1"]), len(devs))
	catchUp(t, ctx, srv.addr, devs, want)
	for _, d := range devs {
		checkInbox(t, d, want[d.user])
	}
	checkHistories(t, ctx, srv.addr, users)
	if err := srv.term(); err != nil {
		t.Errorf("SIGTERM after the cycles: %v, want exit status 0", err)
	}
}
