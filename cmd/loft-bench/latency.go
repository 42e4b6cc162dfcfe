package main

import (
	"context"
	"time"
)

// runLatency sends --rate messages per second over --pairs senders for
// --duration and reports latency from each message's intended send time.
func runLatency(ctx context.Context, e *env) (*result, error) {
	l := &pairsLoad{e: e, pairs: e.opt.Pairs, rate: e.opt.Rate, duration: e.opt.Duration,
		warmup: min(2*time.Second, e.opt.Duration/4), sync: true}
	return l.run(ctx)
}
