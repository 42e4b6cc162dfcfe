package history

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// History returns up to limit messages of conv with seq < before (before 0:
// the newest), in ascending seq order, and whether older messages remain.
// limit <= 0 means 50; at most 500. It returns ErrNotFound if conv does not
// exist or user is not a member of it.
func (s *Store) History(user, conv string, before uint64, limit int) (msgs []Message, more bool, err error) {
	if !validID(user) || !validID(conv) {
		return nil, false, fmt.Errorf("%w: user or conversation id", ErrInvalid)
	}
	limit = clampLimit(limit, defaultHistoryLimit, maxHistoryLimit)
	err = s.readDB(func(db *pebble.DB) error {
		snap := db.NewSnapshot()
		defer snap.Close()
		lo, hi, err := readWindow(snap, user, conv)
		if err != nil {
			return err
		}
		if before == 0 || before > hi+1 {
			before = hi + 1
		}
		msgs, more, err = readHistory(snap, conv, before, lo, limit, s.durableID.Load())
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrClosed) {
			return nil, false, err
		}
		return nil, false, fmt.Errorf("history: history of %q: %w", conv, err)
	}
	return msgs, more, nil
}

// readWindow returns the seqs of conv that user may read: all of a direct
// conversation, a group's from where the user joined to where it left.
func readWindow(snap reader, user, conv string) (lo, hi uint64, err error) {
	v, member, err := getValue(snap, memberKey(user, conv))
	if err != nil {
		return 0, 0, err
	}
	if !member {
		return 0, 0, ErrNotFound
	}
	ms, err := decodeMembership(v)
	if err != nil {
		return 0, 0, err
	}
	lo, hi = ms.window(math.MaxUint64 - 1)
	return lo, hi, nil
}

// HistoryAfter returns up to limit messages of conv with seq > after, in
// ascending order, and whether newer ones remain: how a device catches up
// on a read-fan-out group. Limits and errors are as for History.
func (s *Store) HistoryAfter(user, conv string, after uint64, limit int) (msgs []Message, more bool, err error) {
	if !validID(user) || !validID(conv) {
		return nil, false, fmt.Errorf("%w: user or conversation id", ErrInvalid)
	}
	limit = clampLimit(limit, defaultHistoryLimit, maxHistoryLimit)
	err = s.readDB(func(db *pebble.DB) (err error) {
		durable := s.durableID.Load()
		snap := db.NewSnapshot()
		defer snap.Close()
		lo, hi, err := readWindow(snap, user, conv)
		if err != nil {
			return err
		}
		from := max(after+1, lo)
		if from > hi {
			return nil
		}
		upper := prefixEnd(seqPrefix(kindMessage, conv))
		if hi < math.MaxUint64-1 {
			upper = msgKey(conv, hi+1)
		}
		it, err := snap.NewIter(&pebble.IterOptions{LowerBound: msgKey(conv, from), UpperBound: upper})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, it.Close()) }()
		for ok := it.First(); ok; ok = it.Next() {
			_, seq, err := parseSeqKey(kindMessage, it.Key())
			if err != nil {
				return err
			}
			v, err := it.ValueAndErr()
			if err != nil {
				return err
			}
			m, err := decodeMessage(conv, seq, v, nil)
			if err != nil {
				return err
			}
			if m.ID > durable {
				break // not yet durable, nor anything after it
			}
			if len(msgs) == limit {
				more = true
				break
			}
			msgs = append(msgs, *m)
		}
		return it.Error()
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrClosed) {
			return nil, false, err
		}
		return nil, false, fmt.Errorf("history: history of %q: %w", conv, err)
	}
	return msgs, more, nil
}

// readHistory pages conv backwards from before, down to seq lo. Messages
// above durable (applied, their fsync not yet done) are left out, as
// readInbox leaves them out: a crash could take them back and give their
// seq to another.
func readHistory(snap reader, conv string, before, lo uint64, limit int, durable uint64) (msgs []Message, more bool, err error) {
	prefix := seqPrefix(kindMessage, conv)
	lower := prefix
	if lo > 1 {
		lower = msgKey(conv, lo)
	}
	upper := msgKey(conv, before)
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, false, err
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	for ok := it.Last(); ok; ok = it.Prev() {
		if len(msgs) == limit {
			more = true
			break
		}
		_, seq, err := parseSeqKey(kindMessage, it.Key())
		if err != nil {
			return nil, false, err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, false, err
		}
		m, err := decodeMessage(conv, seq, v, nil)
		if err != nil {
			return nil, false, err
		}
		if m.ID > durable {
			continue // the newest, still being synced
		}
		msgs = append(msgs, *m)
	}
	if err := it.Error(); err != nil {
		return nil, false, err
	}
	slices.Reverse(msgs)
	return msgs, more, nil
}

// Conversations returns all of user's conversations, the one with the most
// recent last message first (by its time, then its id); conversations whose
// messages retention deleted come last.
func (s *Store) Conversations(user string) ([]Conversation, error) {
	if !validID(user) {
		return nil, fmt.Errorf("%w: user id", ErrInvalid)
	}
	var convs []Conversation
	err := s.readDB(func(db *pebble.DB) error {
		durable := s.durableID.Load()
		snap := db.NewSnapshot()
		defer snap.Close()
		ids, err := memberships(snap, user)
		if err != nil {
			return err
		}
		convs = make([]Conversation, 0, len(ids))
		for _, id := range ids {
			c, err := s.conversation(snap, user, id, durable)
			if err != nil {
				return err
			}
			convs = append(convs, c)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("history: conversations of %q: %w", user, err)
	}
	slices.SortFunc(convs, func(a, b Conversation) int {
		switch {
		case a.Last == nil && b.Last == nil:
			return cmp.Compare(a.ID, b.ID)
		case a.Last == nil:
			return 1
		case b.Last == nil:
			return -1
		}
		return cmp.Or(cmp.Compare(b.Last.Time, a.Last.Time), cmp.Compare(b.Last.ID, a.Last.ID))
	})
	return convs, nil
}

// memberships returns the ids of user's conversations.
func memberships(snap reader, user string) (ids []string, err error) {
	prefix := append(makeKey(1, kindMember, user), sep)
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	for ok := it.First(); ok; ok = it.Next() {
		parts, err := parseIDKey(kindMember, 2, it.Key())
		if err != nil {
			return nil, err
		}
		ids = append(ids, parts[1])
	}
	return ids, it.Error()
}

// conversation summarises conv for user as of the durable message id.
func (s *Store) conversation(snap reader, user, conv string, durable uint64) (Conversation, error) {
	c := Conversation{ID: conv}
	_, hi, err := readWindow(snap, user, conv)
	if err != nil {
		return c, err
	}
	if c.LastSeq, err = getUvarint(snap, convSeqKey(conv)); err != nil {
		return c, err
	}
	if c.LastSeq > hi {
		c.LastSeq, c.Left = hi, true
	}
	if isGroup(conv) {
		g, err := s.Group(conv)
		if err != nil {
			return c, err
		}
		c.Name, c.Size = g.Name, g.Len()
		if m, ok := g.Member(user); ok {
			c.Role = m.Role
		} else {
			c.Left = true
		}
	}
	// The newest messages may still await their fsync: the summary ends at
	// the newest durable one.
	for c.LastSeq > 0 {
		m, found, err := getMessage(snap, conv, c.LastSeq)
		if err != nil {
			return c, err
		}
		if !found || m.ID <= durable {
			c.Last = m // nil if retention deleted it
			break
		}
		c.LastSeq--
	}
	if c.ReadSeq, err = getUvarint(snap, markKey(user, conv)); err != nil {
		return c, err
	}
	c.Unread = c.LastSeq - min(c.ReadSeq, c.LastSeq)
	if isGroup(conv) {
		return c, nil
	}
	c.Members, _ = directMembers(conv)
	c.PeerRead = c.ReadSeq // a conversation with oneself
	c.PeerDelivered = c.LastSeq
	first := true
	for _, m := range c.Members {
		if m == user {
			continue
		}
		mark, err := getUvarint(snap, readMarkKey(m, conv))
		if err != nil {
			return c, err
		}
		got, err := getUvarint(snap, deliveredKey(m, conv))
		if err != nil {
			return c, err
		}
		got = max(got, mark) // read implies delivered
		if first || mark < c.PeerRead {
			c.PeerRead = mark
		}
		if first || got < c.PeerDelivered {
			c.PeerDelivered = got
		}
		first = false
	}
	return c, nil
}

// Unread returns user's number of unread messages over all of its
// conversations: the badge of a push. It reads two counters per
// conversation, not the conversations' last messages, so a message not yet
// durable may already count.
func (s *Store) Unread(user string) (uint64, error) {
	if !validID(user) {
		return 0, fmt.Errorf("%w: user id", ErrInvalid)
	}
	var total uint64
	err := s.readDB(func(db *pebble.DB) (err error) {
		snap := db.NewSnapshot()
		defer snap.Close()
		prefix := append(makeKey(1, kindMember, user), sep)
		it, err := snap.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, it.Close()) }()
		for ok := it.First(); ok; ok = it.Next() {
			conv := string(it.Key()[len(prefix):])
			v, err := it.ValueAndErr()
			if err != nil {
				return err
			}
			ms, err := decodeMembership(v)
			if err != nil {
				return err
			}
			last, err := getUvarint(snap, convSeqKey(conv))
			if err != nil {
				return err
			}
			_, hi := ms.window(last)
			mark, err := getUvarint(snap, markKey(user, conv))
			if err != nil {
				return err
			}
			total += hi - min(mark, hi)
		}
		return it.Error()
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("history: unread of %q: %w", user, err)
	}
	return total, err
}

// MessageRefs returns message conv/seq with the inbox entries it appended
// (none for a read-fan-out group message), as of the durable watermark.
func (s *Store) MessageRefs(conv string, seq uint64) (m *Message, refs []InboxRef, err error) {
	if !validID(conv) {
		return nil, nil, fmt.Errorf("%w: conversation id", ErrInvalid)
	}
	err = s.readDB(func(db *pebble.DB) error {
		raw, found, err := getValue(db, msgKey(conv, seq))
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		if m, err = decodeMessage(conv, seq, raw, &refs); err != nil {
			return err
		}
		if m.ID > s.durableID.Load() {
			return ErrNotFound
		}
		return nil
	})
	return m, refs, err
}

// ReadMark returns how far user has read conv, 0 if not at all.
func (s *Store) ReadMark(user, conv string) (uint64, error) {
	if !validID(user) || !validID(conv) {
		return 0, fmt.Errorf("%w: user or conversation id", ErrInvalid)
	}
	return s.readUvarint(markKey(user, conv))
}
