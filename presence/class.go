package presence

import "strings"

// Class groups platforms that share a limit on concurrent logins.
type Class string

// The device classes.
const (
	ClassMobile  Class = "mobile"
	ClassDesktop Class = "desktop"
	ClassWeb     Class = "web"
	ClassOther   Class = "other"
)

// ClassOf maps a platform name (case-insensitive) to its class: android,
// ios, ipados, harmonyos, mobile -> mobile; windows, macos, linux, desktop ->
// desktop; web, browser -> web; anything else -> other.
func ClassOf(platform string) Class {
	switch strings.ToLower(platform) {
	case "android", "ios", "ipados", "harmonyos", "mobile":
		return ClassMobile
	case "windows", "macos", "linux", "desktop":
		return ClassDesktop
	case "web", "browser":
		return ClassWeb
	}
	return ClassOther
}

// Limits is the most concurrent devices per class; a class missing from the
// map (or <= 0) is unlimited. A nil Limits limits nothing.
type Limits map[Class]int

// DefaultLimits returns one mobile, one desktop and five web devices, and
// any number of other devices.
func DefaultLimits() Limits {
	return Limits{ClassMobile: 1, ClassDesktop: 1, ClassWeb: 5}
}

// OverLimit returns the online devices of user in the same class as device
// that exceed limits, oldest connection first (by connect order: the order
// of Connect calls, not Device.Since), never device itself: the ones a new
// login of device must kick. It returns nil if the class is within its limit
// or device is not online.
//
// OverLimit only reads; the caller kicks the devices, and a Connect racing
// with it may leave the class over its limit until the next login.
func (t *Tracker) OverLimit(user, device string, limits Limits) []Device {
	t.mu.RLock()
	defer t.mu.RUnlock()
	devs := t.users[user]
	self := index(devs, device)
	if self < 0 {
		return nil
	}
	class := ClassOf(devs[self].dev.Platform)
	limit := limits[class]
	if limit <= 0 {
		return nil
	}
	excess := -limit
	for _, e := range devs {
		if ClassOf(e.dev.Platform) == class {
			excess++
		}
	}
	if excess <= 0 {
		return nil
	}
	out := make([]Device, 0, excess)
	// devs is in connect order, so the first ones found are the oldest.
	for i, e := range devs {
		if len(out) == excess {
			break
		}
		if i != self && ClassOf(e.dev.Platform) == class {
			out = append(out, e.dev)
		}
	}
	return out
}
