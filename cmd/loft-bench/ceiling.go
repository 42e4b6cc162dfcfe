package main

import (
	"context"
	"time"
)

// runCeiling runs the direct load against the bare relay (relay.go) in a
// child process: what this machine delivers with no auth and no storage,
// the yardstick for direct's figure.
func runCeiling(ctx context.Context, e *env) (*result, error) {
	addr, p, stop, err := startRelay(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	ce := *e
	ce.secret = nil
	ce.server = p
	ce.dial = &dialer{url: "ws://" + addr + "/", sources: e.opt.Sources}
	l := &pairsLoad{e: &ce, pairs: e.opt.Pairs, window: e.opt.Window, duration: e.opt.Duration,
		warmup: min(2*time.Second, e.opt.Duration/4), sync: true}
	return l.run(ctx)
}
