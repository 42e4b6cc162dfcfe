package presence

import (
	"slices"
	"sync"
	"time"
)

// Device is one online device of a user.
type Device struct {
	ID       string    // the client's stable per-install id
	Platform string    // android, ios, web, desktop, ...
	Since    time.Time // when it came online
}

// Change is a user coming online (its first device connected) or going
// offline (its last device disconnected).
type Change struct {
	User     string
	Online   bool
	LastSeen time.Time // when it went offline (Config.Now at the Disconnect); zero when Online
}

// Config configures a Tracker. The zero value works.
type Config struct {
	// OnChange, if set, is called for every Change, with the Tracker's lock
	// held so that one user's changes arrive in order; it must not block and
	// must not call the Tracker. Default: none.
	OnChange func(Change)
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

type entry struct {
	dev Device
	gen uint64
}

// Tracker holds the online devices of every user. The zero value is not
// usable; call New or NewTracker.
type Tracker struct {
	onChange func(Change)     // nil: nobody listens
	now      func() time.Time // never nil

	mu sync.RWMutex
	// users holds each online user's devices, oldest connection (lowest
	// gen) first; a user's slice is never empty. Guarded by mu.
	users   map[string][]entry
	nextGen uint64 // guarded by mu
}

// New returns an empty Tracker with the default Config.
func New() *Tracker {
	return NewTracker(Config{})
}

// NewTracker returns an empty Tracker configured by cfg.
func NewTracker(cfg Config) *Tracker {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Tracker{
		onChange: cfg.OnChange,
		now:      cfg.Now,
		users:    make(map[string][]entry),
	}
}

// Connect marks dev of user online, replacing an earlier connection of the
// same device, and returns the generation to pass to Disconnect. The device
// becomes the user's newest connection.
func (t *Tracker) Connect(user string, dev Device) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextGen++
	gen := t.nextGen
	devs := t.users[user]
	first := len(devs) == 0
	// A replaced connection moves to the end so the slice stays in
	// connect order; users have a handful of devices, so the copy is cheap.
	if i := index(devs, dev.ID); i >= 0 {
		devs = slices.Delete(devs, i, i+1)
	}
	t.users[user] = append(devs, entry{dev: dev, gen: gen})
	if first && t.onChange != nil {
		t.onChange(Change{User: user, Online: true})
	}
	return gen
}

// Disconnect marks device of user offline if gen is still its current
// generation, and reports whether it did. A stale generation (the device has
// reconnected since) changes nothing.
func (t *Tracker) Disconnect(user, device string, gen uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	devs := t.users[user]
	i := index(devs, device)
	if i < 0 || devs[i].gen != gen {
		return false
	}
	if len(devs) > 1 {
		t.users[user] = slices.Delete(devs, i, i+1)
		return true
	}
	delete(t.users, user)
	if t.onChange != nil {
		t.onChange(Change{User: user, LastSeen: t.now()})
	}
	return true
}

// index returns the position of device in devs, or -1.
func index(devs []entry, device string) int {
	for i := range devs {
		if devs[i].dev.ID == device {
			return i
		}
	}
	return -1
}

// Devices appends the online devices of user to dst, oldest connection
// first, and returns it; a nil dst is fine.
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
	return index(t.users[user], device) >= 0
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
