package main

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// runCatchup measures one device catching up: a user with no device online
// gets --catchup-missed messages from --convs peers (1:1, spread evenly),
// then its first device connects and syncs from 0. The time runs from the
// auth frame to `synced`. Each of --rounds rounds has a fresh user; the
// peers stay connected.
func runCatchup(ctx context.Context, e *env) (*result, error) {
	convs, missed, rounds := e.opt.Convs, e.opt.CatchupMissed, e.opt.Rounds
	if convs < 1 || missed < convs || rounds < 1 {
		return nil, fmt.Errorf("--convs must be at least 1, --catchup-missed at least --convs and --rounds at least 1 (have %d, %d, %d)", convs, missed, rounds)
	}
	r := &result{Params: map[string]any{"convs": convs, "missed": missed, "rounds": rounds, "payload": e.opt.Payload}}

	peers := make([]*conn, convs)
	defer closeAll(peers)
	err := forEach(ctx, convs, e.opt.Concurrency, func(ctx context.Context, i int) error {
		c, err := e.dial.dial(ctx)
		if err != nil {
			return err
		}
		peers[i] = c
		_, err = c.login(ctx, e.token(e.user("p", i)), "d")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("peers: %w", err)
	}
	nextID := make([]uint64, convs) // per peer device: ids and cids run on over the rounds

	var times []time.Duration
	var fillTime, wall, self, serv time.Duration
	for round := range rounds {
		user := e.user("u", round)
		t0 := time.Now()
		if err := catchupFill(ctx, e, peers, nextID, user, missed); err != nil {
			return nil, fmt.Errorf("round %d: fill: %w", round, err)
		}
		fillTime += time.Since(t0)
		// Let the store settle (its last fsync, a flush) out of the
		// measured window.
		select {
		case <-time.After(e.opt.Settle):
		case <-ctx.Done():
			return nil, ctx.Err()
		}

		c, err := e.dial.dial(ctx)
		if err != nil {
			return nil, err
		}
		servFrom, selfFrom := catchupServerCPU(e, r), selfCPU()
		start := time.Now()
		a, err := c.login(ctx, e.token(user), "d")
		if err != nil {
			c.ws.CloseNow()
			return nil, fmt.Errorf("round %d: %w", round, err)
		}
		want, entries := uint64(1), 0
		var bad error
		pts, err := c.sync(ctx, 0, func(pts uint64, _ []byte, _ int) {
			if pts != want && bad == nil {
				bad = fmt.Errorf("entry %d where %d was due", pts, want)
			}
			want = pts + 1
			entries++
		})
		d := time.Since(start)
		selfTo, servTo := selfCPU(), catchupServerCPU(e, r)
		c.ws.CloseNow()
		if err != nil {
			return nil, fmt.Errorf("round %d: sync: %w", round, err)
		}
		switch {
		case bad != nil:
			r.errorf("round %d: %v", round, bad)
		case entries != missed || pts != uint64(missed) || a.head != uint64(missed):
			r.errorf("round %d: synced %d entries to pts %d (head %d), want %d", round, entries, pts, a.head, missed)
		}
		times = append(times, d)
		wall += d
		self += selfTo - selfFrom
		serv += servTo - servFrom
		e.note("round %d: %d entries in %s", round, entries, d.Round(time.Microsecond))
	}

	slices.Sort(times)
	median := times[len(times)/2]
	if len(times)%2 == 0 {
		median = (times[len(times)/2-1] + median) / 2
	}
	ms := func(d time.Duration) float64 { return d.Seconds() * 1000 }
	r.add("sync_time_median", ms(median), "ms")
	r.add("sync_time_max", ms(times[len(times)-1]), "ms")
	r.add("sync_time_min", ms(times[0]), "ms")
	r.add("sync_rate", float64(missed)/median.Seconds(), "entries/s")
	r.add("fill_rate", float64(missed*rounds)/fillTime.Seconds(), "msg/s")
	// CPU over the sync windows of all rounds together.
	r.add("tool_cpu", 100*self.Seconds()/wall.Seconds(), "% of one core")
	if e.server != nil {
		r.add("server_cpu", 100*serv.Seconds()/wall.Seconds(), "% of one core")
		if serv > 0 {
			r.add("entries_per_server_cpu_s", float64(missed*rounds)/serv.Seconds(), "entries/cpu-s")
		}
	}
	return r, nil
}

// catchupServerCPU returns the server's CPU time to the nanosecond (a sync
// takes a few of /proc/PID/stat's 10 ms ticks), or 0 if it is not known.
func catchupServerCPU(e *env, r *result) time.Duration {
	if e.server == nil {
		return 0
	}
	d, err := e.server.threadsCPU()
	if err != nil {
		r.errorf("server cpu: %v", err)
	}
	return d
}

// catchupFill has peer i send its share of missed messages to user, each
// keeping --window sends in flight, and returns when all are acked.
func catchupFill(ctx context.Context, e *env, peers []*conn, nextID []uint64, user string, missed int) error {
	var acked atomic.Int64
	prog := startProgress(e.log, "fill "+user, []string{"acked"}, []*atomic.Int64{&acked})
	defer prog.end()
	return forEach(ctx, len(peers), len(peers), func(ctx context.Context, i int) error {
		n := missed / len(peers)
		if i < missed%len(peers) {
			n++
		}
		first := nextID[i]
		nextID[i] += uint64(n)
		return sendAcked(ctx, e, peers[i], user, first, n, &acked)
	})
}

// sendAcked sends n messages to user from c, with ids and cids first,
// first+1, ..., keeping --window in flight, and returns once all are acked.
// Frames other than acks and errors (none are expected) are skipped.
func sendAcked(ctx context.Context, e *env, c *conn, to string, first uint64, n int, acked *atomic.Int64) error {
	credits := make(chan struct{}, max(e.opt.Window, 1))
	readErr := make(chan error, 1)
	go func() {
		for got := 0; got < n; {
			f, err := c.read(ctx)
			if err != nil {
				readErr <- err
				return
			}
			switch frameType(f) {
			case "ack":
				got++
				acked.Add(1)
				credits <- struct{}{}
			case "error":
				readErr <- fmt.Errorf("send answered %s (benchmarks need the server's --rate-limit raised)", short(f))
				return
			}
		}
		readErr <- nil
	}()
	var buf, body []byte
	inflight := 0
	for k := range n {
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
		buf = sendFrame(buf[:0], to, first+uint64(k), body)
		if err := c.write(buf); err != nil {
			return err
		}
		inflight++
	}
	return <-readErr
}
