package main

import "context"

// runLatency sends --rate messages per second over --pairs senders for
// --duration and reports latency from each message's intended send time.
func runLatency(ctx context.Context, e *env) (*result, error) {
	return newPairsLoad(e, e.opt.Rate).run(ctx)
}
