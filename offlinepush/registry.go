package offlinepush

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// Binding is a push token bound to one user's device.
type Binding struct {
	User       string `json:"user"`
	Device     string `json:"device"`
	Vendor     string `json:"vendor"`
	Token      string `json:"token"`
	Credential string `json:"credential,omitempty"`
	Platform   string `json:"platform,omitempty"`
}

// Reasons a device lost its tokens, kept so an outcome can say why a
// device was not pushed.
const (
	GoneKicked    = "kicked"
	GoneLoggedOut = "logged_out"
)

// registry is the token registry: durable in the KV, and whole in memory,
// since the committer asks HasTokens for every message.
type registry struct {
	kv KV
	mu sync.RWMutex
	// Guarded by mu: each user's bindings, and why devices lost theirs.
	users map[string][]Binding
	gone  map[string]map[string]string // user -> device -> reason
}

func loadRegistry(kv KV) (*registry, error) {
	r := &registry{kv: kv, users: make(map[string][]Binding), gone: make(map[string]map[string]string)}
	err := kv.Scan([]byte{recToken}, func(_, v []byte) error {
		var b Binding
		if err := json.Unmarshal(v, &b); err != nil {
			return fmt.Errorf("offlinepush: token record: %w", err)
		}
		r.users[b.User] = append(r.users[b.User], b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = kv.Scan([]byte{recGone}, func(k, v []byte) error {
		parts := bytes.Split(k[1:], []byte{0})
		if len(parts) == 2 {
			r.setGoneLocked(string(parts[0]), string(parts[1]), string(v))
		}
		return nil
	})
	return r, err
}

// hasTokens reports whether user has any bound token.
func (r *registry) hasTokens(user string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.users[user]) > 0
}

// bindings returns a copy of user's bindings.
func (r *registry) bindings(user string) []Binding {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.users[user])
}

// goneReason says why device lost its tokens, "" if it did not.
func (r *registry) goneReason(user, device string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.gone[user][device]
}

func (r *registry) setGoneLocked(user, device, reason string) {
	if reason == "" {
		if m := r.gone[user]; m != nil {
			delete(m, device)
			if len(m) == 0 {
				delete(r.gone, user)
			}
		}
		return
	}
	if r.gone[user] == nil {
		r.gone[user] = make(map[string]string)
	}
	r.gone[user][device] = reason
}

// register binds b.Token to b.User's b.Device: the last bind wins, so the
// token leaves whoever held it, and the device's earlier token of the
// vendor goes.
func (r *registry) register(ctx context.Context, b Binding) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ops []Op
	var drop []Binding
	if old, ok := r.holderLocked(b.Vendor, b.Token); ok && (old.User != b.User || old.Device != b.Device) {
		drop = append(drop, old)
		ops = append(ops, Op{Key: key(recDevice, old.User, old.Device, old.Vendor), Delete: true})
	}
	if prev, ok := r.deviceTokenLocked(b.User, b.Device, b.Vendor); ok && prev.Token != b.Token {
		drop = append(drop, prev)
		ops = append(ops, Op{Key: key(recToken, prev.Vendor, prev.Token), Delete: true})
	}
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	ops = append(ops,
		Op{Key: key(recToken, b.Vendor, b.Token), Value: v},
		Op{Key: key(recDevice, b.User, b.Device, b.Vendor), Value: []byte(b.Token)},
		Op{Key: key(recGone, b.User, b.Device), Delete: true})
	if err := r.kv.Apply(ctx, ops...); err != nil {
		return err
	}
	for _, d := range drop {
		r.removeLocked(d)
	}
	r.removeLocked(b) // if bound before, as it was
	r.users[b.User] = append(r.users[b.User], b)
	r.setGoneLocked(b.User, b.Device, "")
	return nil
}

// unbind removes every token of user's device and records why.
func (r *registry) unbind(ctx context.Context, user, device, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ops []Op
	var drop []Binding
	for _, b := range r.users[user] {
		if b.Device == device {
			drop = append(drop, b)
			ops = append(ops, Op{Key: key(recToken, b.Vendor, b.Token), Delete: true},
				Op{Key: key(recDevice, b.User, b.Device, b.Vendor), Delete: true})
		}
	}
	if reason != "" {
		ops = append(ops, Op{Key: key(recGone, user, device), Value: []byte(reason)})
	}
	if len(ops) == 0 {
		return nil
	}
	if err := r.kv.Apply(ctx, ops...); err != nil {
		return err
	}
	for _, b := range drop {
		r.removeLocked(b)
	}
	r.setGoneLocked(user, device, reason)
	return nil
}

// removeToken drops a token the vendor called invalid, if it is still
// bound as b says: a newer bind of the same token stays.
func (r *registry) removeToken(ctx context.Context, b Binding) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, ok := r.holderLocked(b.Vendor, b.Token)
	if !ok || cur.User != b.User || cur.Device != b.Device {
		return false, nil
	}
	err := r.kv.Apply(ctx, Op{Key: key(recToken, b.Vendor, b.Token), Delete: true},
		Op{Key: key(recDevice, b.User, b.Device, b.Vendor), Delete: true})
	if err != nil {
		return false, err
	}
	r.removeLocked(b)
	return true, nil
}

func (r *registry) holderLocked(vendor, token string) (Binding, bool) {
	v, found, err := r.kv.Get(key(recToken, vendor, token))
	if err != nil || !found {
		return Binding{}, false
	}
	var b Binding
	if json.Unmarshal(v, &b) != nil {
		return Binding{}, false
	}
	return b, true
}

func (r *registry) deviceTokenLocked(user, device, vendor string) (Binding, bool) {
	for _, b := range r.users[user] {
		if b.Device == device && b.Vendor == vendor {
			return b, true
		}
	}
	return Binding{}, false
}

func (r *registry) removeLocked(b Binding) {
	bs := r.users[b.User]
	for i, x := range bs {
		if x.Device == b.Device && x.Vendor == b.Vendor && x.Token == b.Token {
			bs = slices.Delete(bs, i, i+1)
			break
		}
	}
	if len(bs) == 0 {
		delete(r.users, b.User)
	} else {
		r.users[b.User] = bs
	}
}

// goneCount is how many of user's devices lost their tokens.
func (r *registry) goneCount(user string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.gone[user])
}
