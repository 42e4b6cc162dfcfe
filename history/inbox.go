package history

import (
	"errors"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
)

// ReadInbox returns user's inbox entries with pts > after, in ascending pts
// order, at most limit of them (limit <= 0 means 100; at most 1000). If
// retention has deleted entries above after, it returns a *ResetError with
// the pts the inbox is complete from. Entries and their messages come from
// one snapshot, so every entry has its message.
func (s *Store) ReadInbox(user string, after uint64, limit int) ([]InboxEntry, error) {
	if !validID(user) {
		return nil, fmt.Errorf("%w: user id", ErrInvalid)
	}
	limit = clampLimit(limit, defaultInboxLimit, maxInboxLimit)
	var entries []InboxEntry
	err := s.readDB(func(db *pebble.DB) error {
		snap := db.NewSnapshot()
		defer snap.Close()
		floor, err := getUvarint(snap, floorKey(user))
		if err != nil {
			return err
		}
		if floor > 0 && after < floor-1 { // after+1 < floor, without overflow
			return &ResetError{Floor: floor}
		}
		if after == math.MaxUint64 {
			return nil
		}
		entries, err = readInbox(snap, user, after, limit, s.durableID.Load())
		return err
	})
	if err != nil {
		var reset *ResetError
		if errors.As(err, &reset) || errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("history: read inbox of %q: %w", user, err)
	}
	return entries, nil
}

// readInbox reads entries up to the first whose message is not yet durable
// (id > durable): those follow through OnCommit once their fsync is done.
func readInbox(snap reader, user string, after uint64, limit int, durable uint64) (entries []InboxEntry, err error) {
	it, err := snap.NewIter(&pebble.IterOptions{
		LowerBound: inboxKey(user, after+1),
		UpperBound: prefixEnd(seqPrefix(kindInbox, user)),
	})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	mr, err := newMessageReader(snap)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, mr.close()) }()
	for ok := it.First(); ok && len(entries) < limit; ok = it.Next() {
		_, pts, err := parseSeqKey(kindInbox, it.Key())
		if err != nil {
			return nil, err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		conv, seq, err := parseInboxValue(v)
		if err != nil {
			return nil, err
		}
		m, found, err := mr.get(conv, seq)
		if err != nil {
			return nil, err
		}
		if !found {
			// Retention deletes a message and its entries in one batch.
			return nil, fmt.Errorf("%w: inbox entry %d has no message %q %d", errCorrupt, pts, conv, seq)
		}
		if m.ID > durable {
			break
		}
		entries = append(entries, InboxEntry{Pts: pts, Message: m})
	}
	return entries, it.Error()
}

// InboxHead returns the last pts assigned in user's inbox, 0 if none.
func (s *Store) InboxHead(user string) (uint64, error) {
	if !validID(user) {
		return 0, fmt.Errorf("%w: user id", ErrInvalid)
	}
	var head uint64
	err := s.readDB(func(db *pebble.DB) error {
		durable := s.durableID.Load()
		snap := db.NewSnapshot()
		defer snap.Close()
		var err error
		if head, err = getUvarint(snap, userPtsKey(user)); err != nil {
			return err
		}
		// The newest entries may still await their fsync: the head is the
		// newest durable one, so that it never moves back after a crash.
		for ; head > 0; head-- {
			v, found, err := getValue(snap, inboxKey(user, head))
			if err != nil || !found {
				return err // retention keeps the newest entries: !found is a store being reset
			}
			conv, seq, err := parseInboxValue(v)
			if err != nil {
				return err
			}
			m, found, err := getMessage(snap, conv, seq)
			if err != nil || !found || m.ID <= durable {
				return err
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("history: inbox head of %q: %w", user, err)
	}
	return head, err
}

// Cursor returns the pts device last reported received, 0 if none.
func (s *Store) Cursor(user, device string) (uint64, error) {
	if !validID(user) || !validID(device) {
		return 0, fmt.Errorf("%w: user or device id", ErrInvalid)
	}
	return s.readUvarint(cursorKey(user, device))
}

func (s *Store) readUvarint(key []byte) (v uint64, err error) {
	err = s.readDB(func(db *pebble.DB) error {
		v, err = getUvarint(db, key)
		return err
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("history: read %q: %w", key, err)
	}
	return v, err
}

func clampLimit(limit, def, maxLimit int) int {
	if limit <= 0 {
		return def
	}
	return min(limit, maxLimit)
}
