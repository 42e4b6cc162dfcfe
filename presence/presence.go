package presence

import (
	"sync"
	"time"
)

// Device is one online device of a user.
type Device struct {
	ID       string    // the client's stable per-install id
	Platform string    // android, ios, web, desktop, ...
	Since    time.Time // when it came online
}

type entry struct {
	dev Device
	gen uint64
}

// Tracker holds the online devices of every user. The zero value is not
// usable; call New.
type Tracker struct {
	mu      sync.RWMutex
	users   map[string][]entry // guarded by mu; a user's slice is never empty
	nextGen uint64             // guarded by mu
}

// New returns an empty Tracker.
func New() *Tracker {
	return &Tracker{users: make(map[string][]entry)}
}

// Connect marks dev of user online, replacing an earlier connection of the
// same device, and returns the generation to pass to Disconnect.
func (t *Tracker) Connect(user string, dev Device) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextGen++
	gen := t.nextGen
	devs := t.users[user]
	for i := range devs {
		if devs[i].dev.ID == dev.ID {
			devs[i] = entry{dev: dev, gen: gen}
			return gen
		}
	}
	t.users[user] = append(devs, entry{dev: dev, gen: gen})
	return gen
}

// Disconnect marks device of user offline if gen is still its current
// generation, and reports whether it did. A stale generation (the device has
// reconnected since) changes nothing.
func (t *Tracker) Disconnect(user, device string, gen uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	devs := t.users[user]
	for i := range devs {
		if devs[i].dev.ID != device {
			continue
		}
		if devs[i].gen != gen {
			return false
		}
		last := len(devs) - 1
		devs[i] = devs[last]
		devs[last] = entry{}
		if last == 0 {
			delete(t.users, user)
		} else {
			t.users[user] = devs[:last]
		}
		return true
	}
	return false
}

// Devices appends the online devices of user to dst and returns it; a nil
// dst is fine. The order is unspecified.
func (t *Tracker) Devices(dst []Device, user string) []Device {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, e := range t.users[user] {
		dst = append(dst, e.dev)
	}
	return dst
}

// Online reports whether device of user is online.
func (t *Tracker) Online(user, device string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, e := range t.users[user] {
		if e.dev.ID == device {
			return true
		}
	}
	return false
}

// Count returns the number of online devices across all users.
func (t *Tracker) Count() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := 0
	for _, devs := range t.users {
		n += len(devs)
	}
	return n
}
