package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// runIdle opens --conns connections that authenticate, sync and then idle,
// and reports the connect rate and the server's memory per connection.
func runIdle(ctx context.Context, e *env) (*result, error) {
	n := e.opt.Conns
	r := &result{Params: map[string]any{"conns": n, "concurrency": e.opt.Concurrency}}
	if e.server == nil {
		return nil, fmt.Errorf("idle needs the server's pid for its memory (--server-pid)")
	}
	before, err := e.server.rss()
	if err != nil {
		return nil, err
	}
	tokens := e.tokens("i", n)
	conns := make([]*conn, n)
	var opened atomic.Int64
	prog := startProgress(e.log, "connect", []string{"open"}, []*atomic.Int64{&opened})
	u := e.startUsage()
	err = forEach(ctx, n, e.opt.Concurrency, func(ctx context.Context, i int) error {
		c, err := e.dial.dial(ctx)
		if err != nil {
			return err
		}
		conns[i] = c
		if _, err := c.login(ctx, tokens[i], "d"); err != nil {
			return err
		}
		if _, err := c.sync(ctx, 0, func(uint64, []byte, int) {}); err != nil {
			return err
		}
		opened.Add(1)
		return nil
	})
	elapsed := time.Since(u.start)
	prog.end()
	defer closeAll(conns)
	if err != nil {
		return nil, fmt.Errorf("after %d connections: %w", opened.Load(), err)
	}
	u.finish(r, float64(n), "connects")
	r.add("connect_rate", float64(n)/elapsed.Seconds(), "conn/s")

	// Idle connections still answer pings: a reader each, as a client has.
	var lost atomic.Int64
	readCtx, stopRead := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := c.read(readCtx); err != nil {
					if readCtx.Err() == nil {
						lost.Add(1)
					}
					return
				}
			}
		}()
	}
	e.note("%d connections open; settling %s", n, e.opt.Settle)
	select {
	case <-time.After(e.opt.Settle):
	case <-ctx.Done():
	}
	after, err := e.server.rss()
	stopRead()
	closeAll(conns)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	r.add("server_rss_before", float64(before)/(1<<20), "MiB")
	r.add("server_rss_after", float64(after)/(1<<20), "MiB")
	r.add("rss_per_conn", float64(after-before)/float64(n)/1024, "KiB")
	// An upper bound that does not depend on the baseline: the whole
	// process's memory, shared over the connections.
	r.add("rss_after_per_conn", float64(after)/float64(n)/1024, "KiB")
	if l := lost.Load(); l > 0 {
		r.errorf("%d idle connections were closed by the server", l)
	}
	return r, nil
}

// forEach runs fn for 0..n-1 with at most conc at a time and returns the
// first error; the context handed to fn is cancelled after one.
func forEach(ctx context.Context, n, conc int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(max(conc, 1), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// closeAll closes connections in parallel; nil entries are skipped. Safe
// to call twice.
func closeAll(conns []*conn) {
	var wg sync.WaitGroup
	per := (len(conns) + runtime.NumCPU()*8 - 1) / (runtime.NumCPU() * 8)
	for start := 0; start < len(conns); start += max(per, 1) {
		part := conns[start:min(start+max(per, 1), len(conns))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range part {
				if c != nil {
					c.ws.CloseNow()
				}
			}
		}()
	}
	wg.Wait()
}
