package offlinepush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Tags keep two record kinds in the KV, beside those listed in kv.go, both
// with an empty value; a user-level target has an empty device field:
//
//	'g' user 0 device 0 tag       -> "": target holds tag (read by Of and Match)
//	'i' tag 0 user 0 device       -> "": the same, indexed by tag (read by Match)
//
// Add and Remove write both records of a pair in one Apply.
const (
	recTargetTag = 'g'
	recTagIndex  = 'i'
)

// ErrTagLimit reports an Add that would exceed a TagLimits limit; the
// error's text names the limit.
var ErrTagLimit = errors.New("offlinepush: tag limit")

// TagLimits bounds how many tags there are. Its zero value gives the
// defaults.
type TagLimits struct {
	// PerTarget is how many tags one device or user may hold; default 100.
	PerTarget int
	// Distinct is how many distinct tags the app may use; default 10,000.
	Distinct int
}

// Target is what a tag labels: a device of a user, or, with Device "", the
// user itself, whose tags then apply to each of its devices.
type Target struct{ User, Device string }

// TagCount is a tag and how many targets hold it.
type TagCount struct {
	Tag     string
	Targets int
}

// Tags are labels on users and devices that app backends push to. They are
// durable in the KV; in memory Tags keep only how many targets hold each
// tag. A Tags is safe for concurrent use: Add and Remove are serialized
// with each other (each reads the target's tags, checks the limits and
// writes while holding a lock), Of and Match read the KV directly.
type Tags struct {
	kv     KV
	limits TagLimits

	mu sync.RWMutex
	// Guarded by mu: how many targets hold each tag; a tag no target
	// holds is absent.
	counts map[string]int
}

// NewTags returns the tags stored in kv, counting the targets of each tag.
func NewTags(kv KV, limits TagLimits) (*Tags, error) {
	if limits.PerTarget < 0 || limits.Distinct < 0 {
		return nil, fmt.Errorf("%w: tag limits must not be negative", ErrInvalid)
	}
	if limits.PerTarget == 0 {
		limits.PerTarget = 100
	}
	if limits.Distinct == 0 {
		limits.Distinct = 10_000
	}
	t := &Tags{kv: kv, limits: limits, counts: make(map[string]int)}
	err := kv.Scan([]byte{recTagIndex}, func(k, _ []byte) error {
		tag, _, ok := bytes.Cut(k[1:], []byte{0})
		if !ok {
			return fmt.Errorf("offlinepush: tag index record %q", k)
		}
		t.counts[string(tag)]++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("offlinepush: load tags: %w", err)
	}
	return t, nil
}

func validTarget(target Target) error {
	if target.User == "" {
		return fmt.Errorf("%w: a tag target needs a user", ErrInvalid)
	}
	if bytes.IndexByte([]byte(target.User), 0) >= 0 || bytes.IndexByte([]byte(target.Device), 0) >= 0 {
		return fmt.Errorf("%w: a user or device id has a NUL byte", ErrInvalid)
	}
	return nil
}

// uniqueTags validates tags and returns them sorted without repeats.
func uniqueTags(tags []string) ([]string, error) {
	for _, tag := range tags {
		if err := validTag(tag); err != nil {
			return nil, err
		}
	}
	tags = slices.Clone(tags)
	slices.Sort(tags)
	return slices.Compact(tags), nil
}

// Add gives target the tags it does not hold yet. It is all or nothing:
// if the target would hold more than PerTarget tags, or the app would use
// more than Distinct tags, it adds none and returns an error wrapping
// ErrTagLimit; an invalid tag gives an error wrapping ErrInvalid.
func (t *Tags) Add(ctx context.Context, target Target, tags ...string) error {
	if err := validTarget(target); err != nil {
		return err
	}
	tags, err := uniqueTags(tags)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	held, err := t.of(target)
	if err != nil {
		return err
	}
	var add []string
	newDistinct := 0
	for _, tag := range tags {
		if _, ok := slices.BinarySearch(held, tag); ok {
			continue
		}
		add = append(add, tag)
		if t.counts[tag] == 0 {
			newDistinct++
		}
	}
	if len(add) == 0 {
		return nil
	}
	if n := len(held) + len(add); n > t.limits.PerTarget {
		return fmt.Errorf("%w: a device or user holds at most %d tags (PerTarget); this one would hold %d", ErrTagLimit, t.limits.PerTarget, n)
	}
	if n := len(t.counts) + newDistinct; n > t.limits.Distinct {
		return fmt.Errorf("%w: the app uses at most %d distinct tags (Distinct); it would use %d", ErrTagLimit, t.limits.Distinct, n)
	}
	ops := make([]Op, 0, 2*len(add))
	for _, tag := range add {
		ops = append(ops,
			Op{Key: key(recTargetTag, target.User, target.Device, tag), Value: []byte{}},
			Op{Key: key(recTagIndex, tag, target.User, target.Device), Value: []byte{}})
	}
	if err := t.kv.Apply(ctx, ops...); err != nil {
		return fmt.Errorf("offlinepush: add tags: %w", err)
	}
	for _, tag := range add {
		t.counts[tag]++
	}
	return nil
}

// Remove takes tags from target; tags it does not hold are ignored.
func (t *Tags) Remove(ctx context.Context, target Target, tags ...string) error {
	if err := validTarget(target); err != nil {
		return err
	}
	tags, err := uniqueTags(tags)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	held, err := t.of(target)
	if err != nil {
		return err
	}
	var remove []string
	for _, tag := range tags {
		if _, ok := slices.BinarySearch(held, tag); ok {
			remove = append(remove, tag)
		}
	}
	if len(remove) == 0 {
		return nil
	}
	ops := make([]Op, 0, 2*len(remove))
	for _, tag := range remove {
		ops = append(ops,
			Op{Key: key(recTargetTag, target.User, target.Device, tag), Delete: true},
			Op{Key: key(recTagIndex, tag, target.User, target.Device), Delete: true})
	}
	if err := t.kv.Apply(ctx, ops...); err != nil {
		return fmt.Errorf("offlinepush: remove tags: %w", err)
	}
	for _, tag := range remove {
		if t.counts[tag]--; t.counts[tag] <= 0 {
			delete(t.counts, tag)
		}
	}
	return nil
}

// Of returns target's own tags, sorted; for a device, not those it has
// through its user.
func (t *Tags) Of(target Target) ([]string, error) {
	if err := validTarget(target); err != nil {
		return nil, err
	}
	return t.of(target)
}

func (t *Tags) of(target Target) ([]string, error) {
	var tags []string
	p := prefix(recTargetTag, target.User, target.Device)
	err := t.kv.Scan(p, func(k, _ []byte) error {
		tags = append(tags, string(k[len(p):]))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("offlinepush: read tags: %w", err)
	}
	return tags, nil // key order is tag order
}

// TaggedDevices returns, sorted, the devices of user that hold tags of
// their own: the devices a user-level target from Match does not stand for.
func (t *Tags) TaggedDevices(user string) ([]string, error) {
	if err := validTarget(Target{User: user}); err != nil {
		return nil, err
	}
	var devices []string
	err := t.scanUser(user, func(device string, _ []string) {
		if device != "" {
			devices = append(devices, device)
		}
	})
	return devices, err
}

// List returns every tag some target holds, with how many hold it, sorted
// by tag.
func (t *Tags) List() []TagCount {
	t.mu.RLock()
	list := make([]TagCount, 0, len(t.counts))
	for tag, n := range t.counts {
		list = append(list, TagCount{Tag: tag, Targets: n})
	}
	t.mu.RUnlock()
	slices.SortFunc(list, func(a, b TagCount) int {
		switch {
		case a.Tag < b.Tag:
			return -1
		case a.Tag > b.Tag:
			return 1
		}
		return 0
	})
	return list
}

// Count returns how many targets (users and devices, each counted once)
// hold tag.
func (t *Tags) Count(tag string) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.counts[tag]
}

// Match calls fn, in order of user then device, with every stored target
// (one that holds at least one tag of its own) whose tags satisfy e, and
// stops at fn's first error, which it returns. A device's tags are its own
// and its user's: device target {u, d} is yielded if the union satisfies
// e. A user-level target {u, ""} is yielded if the user's own tags satisfy
// e, and stands for each device of u that holds no tags of its own (see
// TaggedDevices); the caller expands it to those devices. Devices and
// users that hold no tags at all are unknown to Tags and never yielded,
// even for an expression an empty tag set satisfies, such as "NOT churned".
//
// Cost: when every tag set satisfying e must hold one of some named tags
// (e has a positive term in each OR branch, as in "vip AND NOT churned"),
// Match reads the index of only those tags and then the tags of only the
// users found there. Otherwise (e is only NOT terms, or an OR branch is,
// as in "vip OR NOT churned") it reads every target's tags.
//
// Match reads the KV without holding Tags' lock; an Add or Remove
// running meanwhile may or may not be seen.
func (t *Tags) Match(e Expr, fn func(Target) error) error {
	if e == nil {
		return fmt.Errorf("%w: no tag expression", ErrInvalid)
	}
	var found []Target
	collect := func(user string, targets map[string][]string) {
		userTags := targets[""]
		devices := make([]string, 0, len(targets))
		for d := range targets {
			devices = append(devices, d)
		}
		slices.Sort(devices)
		for _, d := range devices {
			own := targets[d]
			has := func(tag string) bool {
				if _, ok := slices.BinarySearch(own, tag); ok {
					return true
				}
				_, ok := slices.BinarySearch(userTags, tag)
				return d != "" && ok
			}
			if e.Eval(has) {
				found = append(found, Target{User: user, Device: d})
			}
		}
	}
	if tags, ok := e.required(); ok {
		users, err := t.usersOf(tags)
		if err != nil {
			return err
		}
		for _, u := range users {
			targets := make(map[string][]string)
			if err := t.scanUser(u, func(device string, tags []string) { targets[device] = tags }); err != nil {
				return err
			}
			collect(u, targets)
		}
	} else if err := t.scanAll(collect); err != nil {
		return err
	}
	for _, target := range found {
		if err := fn(target); err != nil {
			return err
		}
	}
	return nil
}

// usersOf returns, sorted, the users of the targets that hold any of tags.
func (t *Tags) usersOf(tags []string) ([]string, error) {
	var users []string
	for _, tag := range tags {
		p := prefix(recTagIndex, tag)
		err := t.kv.Scan(p, func(k, _ []byte) error {
			user, _, _ := bytes.Cut(k[len(p):], []byte{0})
			users = append(users, string(user))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("offlinepush: read tag index: %w", err)
		}
	}
	slices.Sort(users)
	return slices.Compact(users), nil
}

// scanUser calls fn with each target of user that holds tags, and its
// sorted tags, in device order ("" first).
func (t *Tags) scanUser(user string, fn func(device string, tags []string)) error {
	return t.scanTargets(prefix(recTargetTag, user), func(_, device string, tags []string) { fn(device, tags) })
}

// scanAll calls fn with each user that holds tags and its targets' tags,
// in user order.
func (t *Tags) scanAll(fn func(user string, targets map[string][]string)) error {
	var user string
	var targets map[string][]string
	err := t.scanTargets([]byte{recTargetTag}, func(u, device string, tags []string) {
		if targets != nil && u != user {
			fn(user, targets)
			targets = nil
		}
		if targets == nil {
			user, targets = u, make(map[string][]string)
		}
		targets[device] = tags
	})
	if err == nil && targets != nil {
		fn(user, targets)
	}
	return err
}

// scanTargets reads the 'g' records under p and calls fn once per target
// with its sorted tags. The records of one target, and of one user, are
// adjacent in key order.
func (t *Tags) scanTargets(p []byte, fn func(user, device string, tags []string)) error {
	var cur Target
	var tags []string
	err := t.kv.Scan(p, func(k, _ []byte) error {
		parts := bytes.Split(k[1:], []byte{0})
		if len(parts) != 3 {
			return fmt.Errorf("offlinepush: tag record %q", k)
		}
		target := Target{User: string(parts[0]), Device: string(parts[1])}
		if tags != nil && target != cur {
			fn(cur.User, cur.Device, tags)
			tags = nil
		}
		cur = target
		tags = append(tags, string(parts[2]))
		return nil
	})
	if err != nil {
		return fmt.Errorf("offlinepush: read tags: %w", err)
	}
	if tags != nil {
		fn(cur.User, cur.Device, tags)
	}
	return nil
}
