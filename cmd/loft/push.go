package main

import (
	"fmt"

	"github.com/loftchat/loft/offlinepush"
	"github.com/loftchat/loft/offlinepush/logvendor"
)

// pushVendors builds the vendors --push-vendors names.
func pushVendors(cfg config) ([]offlinepush.Vendor, error) {
	var out []offlinepush.Vendor
	for _, name := range splitList(cfg.PushVendors) {
		switch name {
		case "log":
			out = append(out, logvendor.New(logvendor.Config{}))
		default:
			return nil, fmt.Errorf("push vendor %q: unknown (known: log)", name)
		}
	}
	return out, nil
}
