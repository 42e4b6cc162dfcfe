package main

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"time"
)

// runReconnect: --users devices were online once (so each has a cursor),
// then went offline while --missed messages each arrived; they all
// reconnect at once. It reports the time until every device has synced
// everything it missed, checked entry by entry.
func runReconnect(ctx context.Context, e *env) (*result, error) {
	k, x := e.opt.Users, e.opt.Missed
	r := &result{Params: map[string]any{"devices": k, "missed": x, "concurrency": e.opt.Concurrency}}

	tokens := e.tokens("k", k)

	// 1. Every device connects once, syncs and goes away: its cursor.
	cursors := make([]uint64, k)
	err := forEach(ctx, k, e.opt.Concurrency, func(ctx context.Context, i int) error {
		c, err := e.dial.dial(ctx)
		if err != nil {
			return err
		}
		defer c.ws.CloseNow()
		a, err := c.login(ctx, tokens[i], "d")
		if err != nil {
			return err
		}
		cursors[i], err = c.sync(ctx, a.cursor, func(uint64, []byte, int) {})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("first connect: %w", err)
	}

	// 2. While they are away, the messages arrive.
	if err := fill(ctx, e, k, x); err != nil {
		return nil, fmt.Errorf("fill: %w", err)
	}

	// 3. All reconnect at once and sync from their cursor.
	conns := make([]*conn, k)
	defer closeAll(conns)
	done := make([]time.Duration, k)
	var synced, entries atomic.Int64
	prog := startProgress(e.log, "reconnect", []string{"synced devices", "entries"}, []*atomic.Int64{&synced, &entries})
	u := e.startUsage()
	err = forEach(ctx, k, e.opt.Concurrency, func(ctx context.Context, i int) error {
		c, err := e.dial.dial(ctx)
		if err != nil {
			return err
		}
		conns[i] = c
		if _, err := c.login(ctx, tokens[i], "d"); err != nil {
			return err
		}
		want := cursors[i] + 1
		var bad error
		head, err := c.sync(ctx, cursors[i], func(pts uint64, _ []byte, _ int) {
			if pts != want && bad == nil {
				bad = fmt.Errorf("device %d: entry %d where %d was due", i, pts, want)
			}
			want++
			entries.Add(1)
		})
		if err != nil {
			return err
		}
		if bad != nil {
			return bad
		}
		if got := head - cursors[i]; got != uint64(x) {
			return fmt.Errorf("device %d synced %d entries, missed %d", i, got, x)
		}
		done[i] = time.Since(u.start)
		synced.Add(1)
		return nil
	})
	elapsed := time.Since(u.start)
	prog.end()
	if err != nil {
		return nil, err
	}
	u.finish(r, float64(entries.Load()), "entries")
	sort.Slice(done, func(a, b int) bool { return done[a] < done[b] })
	r.add("all_synced_after", elapsed.Seconds(), "s")
	r.add("half_synced_after", done[k/2].Seconds(), "s")
	r.add("sync_rate", float64(entries.Load())/elapsed.Seconds(), "entries/s")
	r.add("reconnect_rate", float64(k)/elapsed.Seconds(), "devices/s")
	return r, nil
}

// fill sends x messages to each of the k reconnect users from --pairs
// senders, each keeping --window sends in flight.
func fill(ctx context.Context, e *env, k, x int) error {
	senders := min(e.opt.Pairs, k)
	var acked atomic.Int64
	prog := startProgress(e.log, "fill", []string{"acked"}, []*atomic.Int64{&acked})
	defer prog.end()
	return forEach(ctx, senders, senders, func(ctx context.Context, s int) error {
		c, err := e.dial.dial(ctx)
		if err != nil {
			return err
		}
		defer c.ws.CloseNow()
		if _, err := c.login(ctx, e.token(e.user("f", s)), "d"); err != nil {
			return err
		}
		// Sender s writes to users s, s+senders, s+2*senders ..., x rounds.
		var targets []string
		for u := s; u < k; u += senders {
			targets = append(targets, e.user("k", u))
		}
		total := len(targets) * x
		credits := make(chan struct{}, max(e.opt.Window, 1))
		readErr := make(chan error, 1)
		go func() {
			for n := 0; n < total; n++ {
				f, err := c.read(ctx)
				if err != nil {
					readErr <- err
					return
				}
				if frameType(f) != "ack" {
					readErr <- fmt.Errorf("send answered %s (benchmarks need the server's --rate-limit raised)", short(f))
					return
				}
				acked.Add(1)
				credits <- struct{}{}
			}
			readErr <- nil
		}()
		var buf, body []byte
		inflight := 0
		for n := 0; n < total; n++ {
			if inflight == cap(credits) {
				select {
				case <-credits:
					inflight--
				case err := <-readErr:
					if err == nil {
						err = fmt.Errorf("acks ended early")
					}
					return err
				}
			}
			body = e.body(body[:0], 0)
			buf = sendFrame(buf[:0], targets[n%len(targets)], uint64(n), body)
			if err := c.write(buf); err != nil {
				return err
			}
			inflight++
		}
		return <-readErr
	})
}
