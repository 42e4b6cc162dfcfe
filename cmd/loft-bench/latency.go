package main

import (
	"cmp"
	"context"
)

// runLatency sends --rate messages per second (default 5,000) over --pairs
// senders for --duration and reports latency from each message's intended
// send time.
func runLatency(ctx context.Context, e *env) (*result, error) {
	return newPairsLoad(e, cmp.Or(e.opt.Rate, 5000)).run(ctx)
}
