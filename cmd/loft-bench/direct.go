package main

import (
	"context"
	"time"
)

// runDirect saturates the server with 1:1 messages: each sender keeps
// --window sends in flight, and a new one goes out as soon as an ack frees
// a slot. Every message is durable before its ack.
func runDirect(ctx context.Context, e *env) (*result, error) {
	return newPairsLoad(e, 0).run(ctx)
}

// newPairsLoad is the standard shape from the flags: window mode if rate
// is 0, else rate messages per second over all senders.
func newPairsLoad(e *env, rate int) *pairsLoad {
	return &pairsLoad{e: e, pairs: e.opt.Pairs, window: e.opt.Window, rate: rate, duration: e.opt.Duration,
		warmup: min(2*time.Second, e.opt.Duration/4), sync: true}
}
