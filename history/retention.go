package history

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// sweepChunk is about how many deletions one sweeper batch holds: enough to
// amortise a commit, small enough never to hold a large batch in memory.
const sweepChunk = 1000

// logErr is the attribute key of an error in log lines.
const logErr = "err"

// sweepLoop runs Sweep every SweepInterval until Close.
func (s *Store) sweepLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if err := s.Sweep(s.ctx); err != nil && s.ctx.Err() == nil {
				s.log.Error("history: sweep failed", logErr, err)
			}
		}
	}
}

// Sweep runs one retention and dedup-expiry pass now: it deletes the messages
// Config.MaxPerConversation and Config.MaxAge no longer keep, with their
// inbox entries, raising each inbox's floor in the same batch, and forgets
// client ids older than Config.DedupWindow. The sweeper goroutine calls it
// every SweepInterval. Its batches are not synced: a crash can only bring
// deleted records back, to be deleted by the next pass. It never waits for
// the committer; sweeps run one at a time.
func (s *Store) Sweep(ctx context.Context) error {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	err := s.readDB(func(db *pebble.DB) (err error) {
		w := &sweeper{s: s, db: db, ctx: ctx, batch: db.NewBatch(), floors: make(map[string]uint64), raised: make(map[string]struct{})}
		defer func() { err = errors.Join(err, w.batch.Close()) }()
		if s.cfg.MaxAge > 0 || s.cfg.MaxPerConversation > 0 {
			if err := w.retain(); err != nil {
				return err
			}
		}
		if err := w.expireDedup(); err != nil {
			return err
		}
		if err := w.flush(); err != nil {
			return err
		}
		return s.rebuildDedupFilter(db)
	})
	if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("history: sweep: %w", err)
	}
	return err
}

// sweeper is one Sweep pass.
type sweeper struct {
	s     *Store
	db    *pebble.DB
	ctx   context.Context
	batch *pebble.Batch
	n     int // deletions in batch

	// floors caches inbox floors, committed or staged; the sweeper is their
	// only writer. raised are those staged in batch.
	floors map[string]uint64
	raised map[string]struct{}
}

// stopped returns why the pass must stop, if it must.
func (w *sweeper) stopped() error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if w.s.ctx.Err() != nil {
		return ErrClosed
	}
	return nil
}

// flush commits the batch with its floors, unsynced, and starts a new one.
func (w *sweeper) flush() error {
	for user := range w.raised {
		if err := w.batch.Set(floorKey(user), encodeUvarint(w.floors[user]), nil); err != nil {
			return err
		}
	}
	clear(w.raised)
	if w.batch.Empty() {
		return nil
	}
	w.s.walMu.Lock()
	err := w.s.syncErr()
	if err == nil {
		err = w.batch.Commit(pebble.NoSync)
	}
	w.s.walMu.Unlock()
	if err != nil {
		return err
	}
	err = w.batch.Close()
	w.batch, w.n = w.db.NewBatch(), 0
	return err
}

// maybeFlush flushes once the batch is a chunk, and checks for cancellation.
func (w *sweeper) maybeFlush() error {
	if w.n < sweepChunk {
		return nil
	}
	if err := w.flush(); err != nil {
		return err
	}
	return w.stopped()
}

// retain deletes the messages retention no longer keeps.
func (w *sweeper) retain() (err error) {
	cfg := &w.s.cfg
	ageCut := int64(math.MinInt64)
	if cfg.MaxAge > 0 {
		ageCut = cfg.Now().UnixMilli() - cfg.MaxAge.Milliseconds()
	}
	it, err := w.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{kindConvSeq},
		UpperBound: []byte{kindConvSeq + 1},
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	for ok := it.First(); ok; ok = it.Next() {
		if err := w.stopped(); err != nil {
			return err
		}
		conv := string(it.Key()[1:])
		if !validID(conv) {
			return fmt.Errorf("%w: key %q", errCorrupt, it.Key())
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		last, err := decodeUvarint(v)
		if err != nil {
			return err
		}
		var countCut uint64 // delete seq <= countCut
		if n := uint64(cfg.MaxPerConversation); n > 0 && last > n {
			countCut = last - n
		}
		if countCut == 0 && cfg.MaxAge == 0 {
			continue
		}
		if err := w.retainConv(conv, countCut, ageCut); err != nil {
			return err
		}
	}
	return it.Error()
}

// retainConv deletes conv's messages from the oldest up to the first one
// that is both above countCut and not older than ageCut: times never
// decrease within a conversation.
func (w *sweeper) retainConv(conv string, countCut uint64, ageCut int64) (err error) {
	prefix := seqPrefix(kindMessage, conv)
	upper := prefixEnd(prefix)
	if w.s.cfg.MaxAge == 0 {
		upper = msgKey(conv, countCut+1)
	}
	it, err := w.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	var refs []InboxRef
	for ok := it.First(); ok; ok = it.Next() {
		_, seq, err := parseSeqKey(kindMessage, it.Key())
		if err != nil {
			return err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		m, err := decodeMessage(conv, seq, v, &refs)
		if err != nil {
			return err
		}
		if seq > countCut && m.Time >= ageCut {
			break
		}
		if err := w.deleteMessage(conv, seq, refs); err != nil {
			return err
		}
		if err := w.maybeFlush(); err != nil {
			return err
		}
	}
	return it.Error()
}

// deleteMessage stages the deletion of a message and its inbox entries and
// raises the floors of those inboxes above them, all in the same batch.
func (w *sweeper) deleteMessage(conv string, seq uint64, refs []InboxRef) error {
	if err := w.batch.Delete(msgKey(conv, seq), nil); err != nil {
		return err
	}
	for _, r := range refs {
		if err := w.batch.Delete(inboxKey(r.User, r.Pts), nil); err != nil {
			return err
		}
		floor, ok := w.floors[r.User]
		if !ok {
			var err error
			if floor, err = getUvarint(w.db, floorKey(r.User)); err != nil {
				return err
			}
		}
		if r.Pts >= floor {
			floor = r.Pts + 1
			w.raised[r.User] = struct{}{}
		}
		w.floors[r.User] = floor
	}
	w.n += 1 + len(refs)
	return nil
}

// expireDedup deletes the dedup records whose expiry has passed, with their
// index keys. A record and its index key are written together and only the
// sweeper deletes them, and the committer writes a record only where none
// exists: so a record found through the index is always the one it indexes.
func (w *sweeper) expireDedup() (err error) {
	now := w.s.cfg.Now().UnixMilli()
	it, err := w.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{kindExpiry},
		UpperBound: expiryKey(now, "", "", "")[:9], // expiry < now
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	for ok := it.First(); ok; ok = it.Next() {
		_, user, device, cid, err := parseExpiryKey(it.Key())
		if err != nil {
			return err
		}
		if err := w.batch.Delete(it.Key(), nil); err != nil {
			return err
		}
		if err := w.batch.Delete(dedupKey(user, device, cid), nil); err != nil {
			return err
		}
		w.n += 2
		if err := w.maybeFlush(); err != nil {
			return err
		}
	}
	return it.Error()
}
