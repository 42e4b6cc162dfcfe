package presence

import (
	"errors"
	"slices"
	"sync"
)

// ErrTooManyWatched is returned by Watch when a watcher would exceed its
// limit of watched users.
var ErrTooManyWatched = errors.New("presence: too many watched users")

// Watchers maps watched users to the watchers (sessions) that subscribed to
// them. Safe for concurrent use. The zero value is not usable; call
// NewWatchers.
type Watchers[W comparable] struct {
	max int // most users one watcher may watch; <= 0 is unlimited

	mu sync.RWMutex
	// watchers lists each watched user's watchers, in no particular order,
	// as a slice so that Append is a copy. Never holds an empty slice.
	// Guarded by mu.
	watchers map[string][]W
	// watched maps each watcher to the users it watches, each with the
	// watcher's index in watchers[user], so removal is a swap with the last
	// element. Never holds an empty map. Guarded by mu.
	watched map[W]map[string]int
}

// NewWatchers returns an empty registry in which one watcher may watch at
// most maxPerWatcher users; maxPerWatcher <= 0 is unlimited.
func NewWatchers[W comparable](maxPerWatcher int) *Watchers[W] {
	return &Watchers[W]{
		max:      maxPerWatcher,
		watchers: make(map[string][]W),
		watched:  make(map[W]map[string]int),
	}
}

// Watch adds users to watcher's set; already-watched users are fine. If the
// result would exceed maxPerWatcher nothing is added and it returns
// ErrTooManyWatched.
func (w *Watchers[W]) Watch(watcher W, users []string) error {
	if len(users) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	set := w.watched[watcher]
	if w.max > 0 && len(set)+len(users) > w.max {
		// Repeated and already-watched users may still fit: count exactly.
		fresh := make(map[string]struct{}, len(users))
		for _, u := range users {
			if _, ok := set[u]; !ok {
				fresh[u] = struct{}{}
			}
		}
		if len(set)+len(fresh) > w.max {
			return ErrTooManyWatched
		}
	}
	if set == nil {
		set = make(map[string]int, len(users))
		w.watched[watcher] = set
	}
	for _, u := range users {
		if _, ok := set[u]; ok {
			continue
		}
		set[u] = len(w.watchers[u])
		w.watchers[u] = append(w.watchers[u], watcher)
	}
	return nil
}

// Unwatch removes users from watcher's set; users it does not watch are
// ignored.
func (w *Watchers[W]) Unwatch(watcher W, users []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	set := w.watched[watcher]
	if set == nil {
		return
	}
	for _, u := range users {
		if i, ok := set[u]; ok {
			delete(set, u)
			w.removeLocked(u, i)
		}
	}
	if len(set) == 0 {
		delete(w.watched, watcher)
	}
}

// UnwatchAll removes every user from watcher's set, freeing all it held. A
// session calls it when it ends.
func (w *Watchers[W]) UnwatchAll(watcher W) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for u, i := range w.watched[watcher] {
		w.removeLocked(u, i)
	}
	delete(w.watched, watcher)
}

// removeLocked removes the watcher at index i of user's watchers by moving
// the last one into its place. The caller removes user from the watcher's
// own set.
func (w *Watchers[W]) removeLocked(user string, i int) {
	ws := w.watchers[user]
	last := len(ws) - 1
	if i != last {
		moved := ws[last]
		ws[i] = moved
		w.watched[moved][user] = i
	}
	var zero W
	ws[last] = zero // so the backing array does not keep a gone watcher alive
	ws = ws[:last]
	switch {
	case len(ws) == 0:
		delete(w.watchers, user)
	case cap(ws) > 16 && len(ws) < cap(ws)/4:
		// Most of a crowd has left: give its memory back.
		w.watchers[user] = slices.Clone(ws)
	default:
		w.watchers[user] = ws
	}
}

// Append appends the watchers of user to dst, in no particular order, and
// returns it; a nil dst is fine.
func (w *Watchers[W]) Append(dst []W, user string) []W {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return append(dst, w.watchers[user]...)
}

// Watching returns how many users watcher watches.
func (w *Watchers[W]) Watching(watcher W) int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return len(w.watched[watcher])
}
