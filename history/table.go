package history

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// kindTable is the first byte of every key of a Table: another package's
// records (the push layer's tokens, settings and queue) in this database,
// written through the committer like everything else.
const kindTable = 'T'

// kindPending marks a message the push layer has not yet handled:
// 'q' be64(id) -> conv 0 be64(seq). See Config.PushPending.
const kindPending = 'q'

// Table is a durable key-value table for another package, in the store's
// database. Writes go through the committer and are durable when Apply
// returns; reads see durable and in-flight writes alike (as Pebble shows
// them), which a table's only writer does not mind.
type Table struct {
	s      *Store
	prefix []byte // kindTable, name, sep
}

// Table returns the table called name: 1-32 lower-case letters, digits or
// '_'. Two packages must not share one.
func (s *Store) Table(name string) (*Table, error) {
	if len(name) == 0 || len(name) > 32 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		return nil, fmt.Errorf("%w: table name %q", ErrInvalid, name)
	}
	return &Table{s: s, prefix: append(makeKey(1, kindTable, name), sep)}, nil
}

// TableOp is one write of an Apply: a set, or a delete if Delete is true.
type TableOp struct {
	Key, Value []byte
	Delete     bool
}

// Apply writes ops in one batch, atomically and durably.
func (t *Table) Apply(ctx context.Context, ops ...TableOp) error {
	o := &tableOp{ops: make([]TableOp, len(ops)), done: make(chan error, 1)}
	for i, op := range ops {
		if len(op.Key) == 0 {
			return fmt.Errorf("%w: empty table key", ErrInvalid)
		}
		o.ops[i] = TableOp{Key: t.key(op.Key), Value: bytes.Clone(op.Value), Delete: op.Delete}
	}
	if err := t.s.enqueue(ctx, o); err != nil {
		return err
	}
	return <-o.done
}

func (t *Table) key(k []byte) []byte {
	out := make([]byte, 0, len(t.prefix)+len(k))
	return append(append(out, t.prefix...), k...)
}

// Get reads one record; found is false if it is absent.
func (t *Table) Get(key []byte) (v []byte, found bool, err error) {
	err = t.s.readDB(func(db *pebble.DB) error {
		v, found, err = getValue(db, t.key(key))
		return err
	})
	return v, found, err
}

// Scan calls fn with every record whose key starts with prefix, in key
// order, until fn returns an error (which Scan returns). Keys and values
// are only valid during the call.
func (t *Table) Scan(prefix []byte, fn func(key, value []byte) error) error {
	return t.s.readDB(func(db *pebble.DB) (err error) {
		lower := t.key(prefix)
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: tableEnd(lower)})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, it.Close()) }()
		for ok := it.First(); ok; ok = it.Next() {
			v, err := it.ValueAndErr()
			if err != nil {
				return err
			}
			if err := fn(it.Key()[len(t.prefix):], v); err != nil {
				return err
			}
		}
		return it.Error()
	})
}

// tableEnd is the upper bound of a prefix scan that may end in 0xff bytes.
func tableEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // no bound: the table's prefix never ends in all 0xff
}

// tableOp is a queued Apply.
type tableOp struct {
	ops  []TableOp
	done chan error // buffered: finish never blocks
}

func (o *tableOp) apply(c *committer) error {
	for _, op := range o.ops {
		if op.Delete {
			c.del(op.Key)
		} else {
			c.put(op.Key, op.Value)
		}
	}
	return nil
}

func (o *tableOp) finish(err error) { o.done <- err }

func pendingKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindPending}, id)
}

// Pending calls fn with every message marked for the push layer
// (Config.PushPending) that DonePending has not cleared, oldest first,
// with its inbox entries: what a restart must hand to the push layer again.
func (s *Store) Pending(fn func(Appended) error) error {
	return s.readDB(func(db *pebble.DB) (err error) {
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindPending}, UpperBound: []byte{kindPending + 1}})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, it.Close()) }()
		for ok := it.First(); ok; ok = it.Next() {
			v, err := it.ValueAndErr()
			if err != nil {
				return err
			}
			conv, seq, err := parseInboxValue(v)
			if err != nil {
				return err
			}
			raw, found, err := getValue(db, msgKey(conv, seq))
			if err != nil {
				return err
			}
			if !found {
				continue // retention took it
			}
			var refs []InboxRef
			m, err := decodeMessage(conv, seq, raw, &refs)
			if err != nil {
				return err
			}
			if err := fn(Appended{Message: m, Inbox: refs}); err != nil {
				return err
			}
		}
		return it.Error()
	})
}

// DonePending clears the push marks of messages the push layer has handled.
func (s *Store) DonePending(ctx context.Context, ids ...uint64) error {
	o := &tableOp{done: make(chan error, 1)}
	for _, id := range ids {
		o.ops = append(o.ops, TableOp{Key: pendingKey(id), Delete: true})
	}
	if err := s.enqueue(ctx, o); err != nil {
		return err
	}
	return <-o.done
}
