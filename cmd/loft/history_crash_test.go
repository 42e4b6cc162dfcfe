package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCrashKeepsWhatHistoryShowed reads conversation history while messages
// are being stored and kills the server the moment a read shows a message
// whose sender has no ack yet. A message a user has seen must survive the
// crash: after the restart, every (conversation, seq) a read showed still
// holds the same message (same id, same body).
//
// The window is short (a message applied to Pebble but still in its WAL
// buffer while the previous batch syncs), so the test crashes up to
// maxTrials times, each on a new data directory, and stops at the first
// loss. Against the server of this commit it fails within a few trials.
func TestCrashKeepsWhatHistoryShowed(t *testing.T) {
	const maxTrials = 30
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	convs := []string{"d:h0:reader", "d:h1:reader"}
	readerToken := mintToken(t, "reader")
	early := 0 // crashes right after a read showed an unacked message
	trial := 1
	for ; trial <= maxTrials; trial++ {
		dir := t.TempDir()
		users := []*sendUser{newSendUser(t, "h0", "reader"), newSendUser(t, "h1", "reader")}
		led := newLedger(t)
		srv := startLoft(t, dir)
		reader, err := dialClient(ctx, srv.addr, readerToken, "tablet")
		if err != nil {
			t.Fatal(err)
		}
		led.begin()
		waitSenders := startSenders(t, ctx, srv.addr, users, 64, func(u *sendUser) func() *outMsg {
			return u.generate(5000)
		}, led, false)
		shown := make(map[string]wireEntry) // conv#seq: what reads showed
		killed := make(chan struct{})
		pollDone := make(chan error, 1)
		go func() {
			var once sync.Once
			for {
				for _, conv := range convs {
					f, err := reader.historyPage(ctx, conv, 0, 5)
					if errors.Is(err, errNotFound) {
						continue // no message yet
					}
					if err != nil {
						pollDone <- err
						return
					}
					for _, e := range f.Messages {
						shown[fmt.Sprintf("%s#%d", conv, e.Seq)] = e
						if !led.acked(conv, e.Seq) {
							once.Do(func() {
								srv.cmd.Process.Signal(syscall.SIGKILL)
								close(killed)
							})
						}
					}
				}
			}
		}()
		select {
		case <-killed:
			early++
		case <-time.After(time.Second):
		}
		srv.kill()
		<-pollDone
		reader.close()
		waitSenders()
		led.end()
		if t.Failed() {
			t.Fatalf("trial %d failed", trial)
		}

		srv = startLoft(t, dir)
		reader, err = dialClient(ctx, srv.addr, readerToken, "tablet")
		if err != nil {
			t.Fatal(err)
		}
		ok := checkShown(t, ctx, reader, shown, trial)
		reader.close()
		srv.kill()
		if !ok {
			break
		}
	}
	t.Logf("%d crashes, %d of them right after a history read showed a message not yet acked", min(trial, maxTrials), early)
}

// checkShown checks that what reads showed before a crash is still there,
// unchanged, reading only the pages that hold it; it reports whether it was.
func checkShown(tb testing.TB, ctx context.Context, c *wsClient, shown map[string]wireEntry, trial int) bool {
	tb.Helper()
	e := &limitedErrors{tb: tb, what: fmt.Sprintf("crash %d: history shown before it", trial)}
	defer e.done()
	lo, hi := make(map[string]uint64), make(map[string]uint64)
	for _, was := range shown {
		if lo[was.Conv] == 0 || was.Seq < lo[was.Conv] {
			lo[was.Conv] = was.Seq
		}
		hi[was.Conv] = max(hi[was.Conv], was.Seq)
	}
	now := make(map[string]map[uint64]wireEntry)
	for conv := range hi {
		now[conv] = make(map[uint64]wireEntry)
		// Pages of at most 500, the protocol's limit, down from the newest shown.
		for before := hi[conv] + 1; before > lo[conv]; before -= min(500, before-lo[conv]) {
			f, err := c.historyPage(ctx, conv, before, int(min(500, before-lo[conv])))
			if err != nil && !errors.Is(err, errNotFound) {
				tb.Fatalf("history %s: %v", conv, err)
			}
			for _, h := range f.Messages {
				now[conv][h.Seq] = h
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(shown)) {
		was := shown[key]
		h, ok := now[was.Conv][was.Seq]
		switch {
		case !ok:
			e.errorf("VANISHED: %s seq %d, id %d %s, is gone", was.Conv, was.Seq, was.ID, was.Body)
		case h.ID != was.ID || !bytes.Equal(h.Body, was.Body):
			e.errorf("REPLACED: %s seq %d was id %d %s, and is now id %d %s", was.Conv, was.Seq, was.ID, was.Body, h.ID, h.Body)
		}
	}
	return e.n == 0
}
