package history

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// dedupFilter is an in-memory Bloom filter over every dedup record in the
// store. A new client message id, the common case, is then known to be
// new without a Pebble read: under a steady write load compactions keep
// replacing the tables a Get would read, so each miss cost an index and a
// data block read from disk, the largest cost of a send. A "maybe" (about
// 1% of new ids, and every retry) still reads Pebble.
//
// Bits are only ever set, atomically: the committer adds, senders test,
// without a lock. Records the sweeper expires stay set until the next
// rebuild, which only costs extra reads.
type dedupFilter struct {
	seed  maphash.Seed
	words []atomic.Uint64
	mask  uint64       // number of bits - 1; a power of two
	added atomic.Int64 // keys added, for the rebuild decision
}

const (
	dedupFilterProbes  = 7  // hash functions: ~1% false positives at 10 bits per key
	dedupBitsPerKey    = 10 // when sized for a given count
	minDedupFilterBits = 1 << 24
)

// newDedupFilter returns a filter with room for twice n keys.
func newDedupFilter(n int) *dedupFilter {
	want := uint64(max(2*n*dedupBitsPerKey, minDedupFilterBits))
	nbits := uint64(1) << bits.Len64(want-1)
	return &dedupFilter{seed: maphash.MakeSeed(), words: make([]atomic.Uint64, nbits/64), mask: nbits - 1}
}

func (f *dedupFilter) probes(key []byte) (h1, h2 uint64) {
	h := maphash.Bytes(f.seed, key)
	return h, h>>32 | h<<32 | 1 // odd step: probes differ within any power of two
}

func (f *dedupFilter) add(key []byte) {
	h, step := f.probes(key)
	for range dedupFilterProbes {
		b := h & f.mask
		f.words[b/64].Or(1 << (b % 64))
		h += step
	}
	f.added.Add(1)
}

// mayContain is false only if key was never added.
func (f *dedupFilter) mayContain(key []byte) bool {
	h, step := f.probes(key)
	for range dedupFilterProbes {
		b := h & f.mask
		if f.words[b/64].Load()&(1<<(b%64)) == 0 {
			return false
		}
		h += step
	}
	return true
}

// overfull reports whether the filter holds more keys than it was sized
// for, so that its false-positive rate has grown.
func (f *dedupFilter) overfull() bool {
	return f.added.Load()*dedupBitsPerKey > int64(f.mask+1)
}

// loadDedupFilter builds a filter from the dedup records in db.
func loadDedupFilter(db *pebble.DB) (*dedupFilter, error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindDedup}, UpperBound: []byte{kindDedup + 1}})
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for it.First(); it.Valid(); it.Next() {
		keys = append(keys, append([]byte(nil), it.Key()...))
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	f := newDedupFilter(len(keys))
	for _, k := range keys {
		f.add(k)
	}
	return f, nil
}

// addDedup records dedup keys that are now visible in Pebble, before the
// generation that wrote them is published (see appendOp.precheck).
func (s *Store) addDedup(keys []string) {
	f, next := s.dedup.Load(), s.dedupNext.Load()
	for _, k := range keys {
		if f != nil {
			f.add([]byte(k))
		}
		if next != nil {
			next.add([]byte(k))
		}
	}
}

// rebuildDedupFilter replaces an overfull filter with one sized for the
// records that exist now (the sweeper has deleted expired ones). Keys
// committed meanwhile go to both filters.
func (s *Store) rebuildDedupFilter(db *pebble.DB) error {
	old := s.dedup.Load()
	if old == nil || !old.overfull() {
		return nil
	}
	next := newDedupFilter(int(old.added.Load()))
	s.dedupNext.Store(next) // before the scan's snapshot: later commits add to it
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindDedup}, UpperBound: []byte{kindDedup + 1}})
	if err != nil {
		s.dedupNext.Store(nil)
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		next.add(it.Key())
	}
	if err := it.Close(); err != nil {
		s.dedupNext.Store(nil)
		return err
	}
	s.dedup.Store(next)
	s.dedupNext.Store(nil)
	return nil
}
