package main

import "context"

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
	return newPairsLoad(&ce, 0).run(ctx)
}
