package history

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// maxCachedGroups bounds the readers' group and read-mark caches; past it
// they start over.
const maxCachedGroups = 4096

// groupCache holds groups for readers, as of durable commits. The committer
// publishes each change after its fsync; a reader that missed loads from
// Pebble and keeps the result only if nothing was published meanwhile, so a
// load never overwrites a newer publish.
type groupCache struct {
	mu  sync.Mutex
	m   map[string]*Group // guarded by mu
	gen uint64            // guarded by mu: bumped by every publish
}

func (c *groupCache) get(conv string) *Group {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[conv]
}

func (c *groupCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// add keeps a group loaded when the generation was gen.
func (c *groupCache) add(conv string, g *Group, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.m == nil || len(c.m) >= maxCachedGroups {
		c.m = make(map[string]*Group)
	}
	c.m[conv] = g
}

func (c *groupCache) publish(conv string, g *Group) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if c.m == nil || len(c.m) >= maxCachedGroups {
		c.m = make(map[string]*Group)
	}
	c.m[conv] = g
}

// markChange is a group read mark the committer moved.
type markChange struct {
	conv, user string
	seq        uint64
}

// groupMarks is the read marks of one group's members. Marks only grow, so
// the changes applied while it loads merge with what the load reads by max.
type groupMarks struct {
	ready chan struct{} // closed once loaded (or failed)
	err   error         // set before ready closes
	mu    sync.RWMutex
	m     map[string]uint64 // guarded by mu
}

func (gm *groupMarks) raise(user string, seq uint64) {
	gm.mu.Lock()
	gm.m[user] = max(gm.m[user], seq)
	gm.mu.Unlock()
}

// markCache holds the read marks of groups whose receipts were asked for,
// so that a receipts request costs no disk read after the first.
type markCache struct {
	mu sync.Mutex
	m  map[string]*groupMarks // guarded by mu
}

// apply records durable mark changes in the groups held.
func (c *markCache) apply(changes []markChange) {
	if len(changes) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range changes {
		if gm := c.m[ch.conv]; gm != nil {
			gm.raise(ch.user, ch.seq)
		}
	}
}

// groupMarks returns conv's read marks, loading them with one scan the
// first time.
func (s *Store) groupMarks(conv string) (*groupMarks, error) {
	c := &s.markCache
	c.mu.Lock()
	gm := c.m[conv]
	if gm == nil {
		gm = &groupMarks{ready: make(chan struct{}), m: make(map[string]uint64)}
		if c.m == nil || len(c.m) >= maxCachedGroups {
			c.m = make(map[string]*groupMarks)
		}
		c.m[conv] = gm
		c.mu.Unlock()
		gm.err = s.loadMarks(conv, gm)
		if gm.err != nil {
			c.mu.Lock()
			if c.m[conv] == gm {
				delete(c.m, conv)
			}
			c.mu.Unlock()
		}
		close(gm.ready)
	} else {
		c.mu.Unlock()
		<-gm.ready
	}
	if gm.err != nil {
		return nil, gm.err
	}
	return gm, nil
}

func (s *Store) loadMarks(conv string, gm *groupMarks) error {
	err := s.readDB(func(db *pebble.DB) (err error) {
		prefix := idPrefix(kindGRead, conv)
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
			seq, err := decodeUvarint(v)
			if err != nil {
				return err
			}
			gm.raise(string(it.Key()[len(prefix):]), seq)
		}
		return it.Error()
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("history: read marks of %q: %w", conv, err)
	}
	return err
}
