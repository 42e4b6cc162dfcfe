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
	return newDedupFilterSeed(n, maphash.MakeSeed())
}

func newDedupFilterSeed(n int, seed maphash.Seed) *dedupFilter {
	want := uint64(max(2*n*dedupBitsPerKey, minDedupFilterBits))
	nbits := uint64(1) << bits.Len64(want-1)
	return &dedupFilter{seed: seed, words: make([]atomic.Uint64, nbits/64), mask: nbits - 1}
}

func (f *dedupFilter) hash(key []byte) uint64 { return maphash.Bytes(f.seed, key) }

func (f *dedupFilter) add(key []byte) { f.addHash(f.hash(key)) }

func (f *dedupFilter) addHash(h uint64) {
	step := h>>32 | h<<32 | 1 // odd: probes differ within any power of two
	for range dedupFilterProbes {
		b := h & f.mask
		f.words[b/64].Or(1 << (b % 64))
		h += step
	}
	f.added.Add(1)
}

// mayContain is false only if key was never added.
func (f *dedupFilter) mayContain(key []byte) bool {
	h := f.hash(key)
	step := h>>32 | h<<32 | 1
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

// eachDedupKey calls fn with the key of every dedup record in db; the key
// is valid only during the call.
func eachDedupKey(db *pebble.DB, fn func(key []byte)) error {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindDedup}, UpperBound: []byte{kindDedup + 1}})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		fn(it.Key())
	}
	return it.Close()
}

// loadDedupFilter builds a filter from the dedup records in db. It keeps
// 8 bytes of hash per record while it counts them, not the keys.
func loadDedupFilter(db *pebble.DB) (*dedupFilter, error) {
	seed := maphash.MakeSeed()
	var hashes []uint64
	if err := eachDedupKey(db, func(k []byte) { hashes = append(hashes, maphash.Bytes(seed, k)) }); err != nil {
		return nil, err
	}
	f := newDedupFilterSeed(len(hashes), seed)
	for _, h := range hashes {
		f.addHash(h)
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
	if err := eachDedupKey(db, next.add); err != nil {
		s.dedupNext.Store(nil)
		return err
	}
	s.dedup.Store(next)
	s.dedupNext.Store(nil)
	return nil
}
