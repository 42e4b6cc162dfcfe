package history

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// DeviceSeen records that device of user connected (online true: it becomes
// active with platform) or disconnected (online false: its last seen time
// moves). It returns once the write is queued, not durable: a crash may lose
// the last one, which costs a last-seen time, never a message.
func (s *Store) DeviceSeen(ctx context.Context, user, device, platform string, online bool) error {
	if !validID(user) || !validID(device) || (online && !validID(platform)) {
		return fmt.Errorf("%w: user, device or platform id", ErrInvalid)
	}
	return s.enqueue(ctx, &deviceOp{user: user, device: device, platform: platform, online: online, seen: true})
}

// SetDeviceState records how device of user ended: kicked, or logged out
// (unbindPush: its push token is to be removed). It returns once durable.
// A later DeviceSeen with online true makes the device active again.
func (s *Store) SetDeviceState(ctx context.Context, user, device string, state DeviceState, unbindPush bool) error {
	if !validID(user) || !validID(device) {
		return fmt.Errorf("%w: user or device id", ErrInvalid)
	}
	o := &deviceOp{user: user, device: device, state: state, unbind: unbindPush, done: make(chan error, 1)}
	if err := s.enqueue(ctx, o); err != nil {
		return err
	}
	if err := <-o.done; err != nil {
		return err
	}
	if s.cfg.OnDeviceState != nil {
		s.cfg.OnDeviceState(user, device, state, unbindPush)
	}
	return nil
}

// Devices returns every device user has logged in from, in id order.
func (s *Store) Devices(user string) (devs []Device, err error) {
	if !validID(user) {
		return nil, fmt.Errorf("%w: user id", ErrInvalid)
	}
	err = s.readDB(func(db *pebble.DB) (err error) {
		prefix := idPrefix(kindDevice, user)
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, it.Close()) }()
		for ok := it.First(); ok; ok = it.Next() {
			v, err := it.ValueAndErr()
			if err != nil {
				return err
			}
			r, err := decodeDevice(v)
			if err != nil {
				return err
			}
			devs = append(devs, Device{ID: string(it.Key()[len(prefix):]), Platform: r.Platform, State: r.State, LastSeen: r.LastSeen, UnbindPush: r.UnbindPush})
		}
		return it.Error()
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("history: devices of %q: %w", user, err)
	}
	return devs, err
}

// deviceOp is a queued DeviceSeen or SetDeviceState.
type deviceOp struct {
	user, device, platform string
	online, seen           bool // DeviceSeen
	state                  DeviceState
	unbind                 bool
	done                   chan error // nil for DeviceSeen
}

func (o *deviceOp) apply(c *committer) error {
	key := deviceKey(o.user, o.device)
	v, found, err := c.get(key)
	if err != nil {
		return err
	}
	r := &deviceRecord{State: DeviceActive}
	if found {
		if r, err = decodeDevice(v); err != nil {
			return err
		}
	} else if !o.seen {
		return ErrNotFound
	}
	now := c.s.cfg.Now().UnixMilli()
	switch {
	case o.seen && o.online:
		r.Platform, r.State, r.UnbindPush, r.LastSeen = o.platform, DeviceActive, false, now
	case o.seen:
		r.LastSeen = now
	default:
		r.State, r.UnbindPush = o.state, o.unbind
	}
	c.put(key, encodeDevice(r))
	return nil
}

func (o *deviceOp) finish(err error) {
	if o.done != nil {
		o.done <- err
	}
}

// Users returns up to limit users, in id order, after the user after ("" for
// the first): every user that has logged in from a device. Paging through
// it visits each user once, however many devices it has.
func (s *Store) Users(after string, limit int) (users []string, err error) {
	if limit <= 0 {
		return nil, nil
	}
	lower := []byte{kindDevice}
	if after != "" {
		lower = append(makeKey(0, kindDevice, after), sep+1) // past every device of after
	}
	err = s.readDB(func(db *pebble.DB) (err error) {
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: []byte{kindDevice + 1}})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, it.Close()) }()
		for ok := it.First(); ok && len(users) < limit; {
			k := it.Key()[1:]
			i := bytes.IndexByte(k, sep)
			if i < 0 {
				ok = it.Next()
				continue
			}
			user := string(k[:i])
			users = append(users, user)
			ok = it.SeekGE(append(makeKey(0, kindDevice, user), sep+1))
		}
		return it.Error()
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("history: users: %w", err)
	}
	return users, err
}
