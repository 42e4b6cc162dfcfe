package history

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Submit queues req for the next group commit and returns once it is queued,
// so that one caller's messages are stored in the order it submits them. If
// Submit returns nil, done is called exactly once, on the committer goroutine,
// after the batch is durable and Config.OnCommit has run (or with the error
// that failed it); done must not block, and may be nil. Submit respects ctx
// only while it waits for room in the queue. It returns ErrInvalid (wrapped)
// for a request Append would reject and ErrClosed once Close has begun.
func (s *Store) Submit(ctx context.Context, req AppendRequest, done func(Ack, error)) error {
	if err := validateAppend(&req); err != nil {
		return err
	}
	req.Body = bytes.Clone(req.Body) // OnCommit's messages must not change
	o := &appendOp{req: req, digest: appendDigest(&req), done: done}
	o.precheck(s)
	return s.enqueue(ctx, o)
}

// precheck looks the dedup record up on the caller's goroutine, so that the
// common case, a new client id, costs the committer no read. The committer
// trusts a "not found" only if no batch applied since could have written
// the record (see committer.seenSince).
func (o *appendOp) precheck(s *Store) {
	o.preGen = s.appliedGen.Load()
	key := dedupKey(o.req.From, o.req.Device, o.req.ClientID)
	if f := s.dedup.Load(); f != nil && !f.mayContain(key) {
		// Every key applied up to preGen was added before preGen was
		// published: the id is new as of preGen.
		o.preAbsent = true
		return
	}
	err := s.readDB(func(db *pebble.DB) error {
		_, found, err := getValue(db, key)
		o.preAbsent = err == nil && !found
		return err
	})
	if err != nil {
		o.preAbsent = false // the committer reads again
	}
}

// Append stores one direct message and returns where it was stored, once it
// is durable. A retry with the same From, Device and ClientID returns the
// original Ack with Duplicate set and stores nothing; with a different To or
// Body it fails with ErrConflict. A client id is remembered for at least
// Config.DedupWindow.
//
// ctx bounds only the wait for room in the commit queue: once queued, Append
// waits for the commit whatever ctx does, so its result is never ambiguous.
// Ids must be non-empty and free of 0x00, From and To also free of ':' (it
// separates them in the conversation id), and Body non-empty; otherwise
// Append returns ErrInvalid (wrapped).
func (s *Store) Append(ctx context.Context, req AppendRequest) (Ack, error) {
	type result struct {
		ack Ack
		err error
	}
	ch := make(chan result, 1)
	err := s.Submit(ctx, req, func(a Ack, err error) { ch <- result{a, err} })
	if err != nil {
		return Ack{}, err
	}
	r := <-ch
	return r.ack, r.err
}

// SetCursor records that device has received user's inbox up to pts and
// returns the stored cursor, which never decreases. pts beyond the inbox head
// is ErrInvalid (wrapped). The write is durable when SetCursor returns; ctx
// works as in Append.
func (s *Store) SetCursor(ctx context.Context, user, device string, pts uint64) (uint64, error) {
	stored, _, err := s.Confirm(ctx, user, device, pts, nil)
	return stored, err
}

// Confirm is SetCursor that also records, in the same write, that user's
// device received direct conversations up to the given seqs: their
// delivered marks, which never decrease (Conversation.PeerDelivered of the
// other member). It returns the stored cursor and the marks that moved.
func (s *Store) Confirm(ctx context.Context, user, device string, pts uint64, delivered []ConvSeq) (uint64, []ConvSeq, error) {
	if !validID(user) || !validID(device) {
		return 0, nil, fmt.Errorf("%w: user or device id", ErrInvalid)
	}
	for _, d := range delivered {
		if _, ok := directMembers(d.Conv); !ok {
			return 0, nil, fmt.Errorf("%w: %q is not a direct conversation", ErrInvalid, d.Conv)
		}
	}
	o := &cursorOp{user: user, device: device, pts: pts, delivered: delivered, done: make(chan error, 1)}
	if err := s.enqueue(ctx, o); err != nil {
		return 0, nil, err
	}
	if err := <-o.done; err != nil {
		return 0, nil, err
	}
	return o.stored, o.advanced, nil
}

// ConvSeq is a position in a conversation.
type ConvSeq struct {
	Conv string
	Seq  uint64
}

// MarkRead records that user has read conv up to seq and returns the stored
// mark, which never decreases. It returns ErrNotFound if user is not a member
// of conv and ErrInvalid (wrapped) if seq is beyond the conversation's last
// message. The write is durable when MarkRead returns; ctx works as in
// Append.
func (s *Store) MarkRead(ctx context.Context, user, conv string, seq uint64) (ReadMark, error) {
	if !validID(user) || !validID(conv) {
		return ReadMark{}, fmt.Errorf("%w: user or conversation id", ErrInvalid)
	}
	o := &markReadOp{user: user, conv: conv, seq: seq, done: make(chan error, 1)}
	if err := s.enqueue(ctx, o); err != nil {
		return ReadMark{}, err
	}
	if err := <-o.done; err != nil {
		return ReadMark{}, err
	}
	return o.mark, nil
}

// enqueue hands o to the committer. After it returns nil, o is finished
// exactly once.
func (s *Store) enqueue(ctx context.Context, o op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.sendMu.RLock()
	defer s.sendMu.RUnlock()
	if !s.sending {
		return ErrClosed
	}
	select {
	case s.reqs <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func validateAppend(r *AppendRequest) error {
	switch {
	case !validID(r.From) || strings.Contains(r.From, ":"):
		return fmt.Errorf("%w: sender id", ErrInvalid)
	case (r.To == "") == (r.Conv == ""):
		return fmt.Errorf("%w: exactly one of recipient and conversation", ErrInvalid)
	case r.To != "" && (!validID(r.To) || strings.Contains(r.To, ":")):
		return fmt.Errorf("%w: recipient id", ErrInvalid)
	case r.Conv != "" && !validID(r.Conv):
		return fmt.Errorf("%w: conversation id", ErrInvalid)
	case r.Kind != "" && r.Kind != KindRecall && r.Kind != KindEdit && r.Kind != KindDelete:
		return fmt.Errorf("%w: kind %q", ErrInvalid, r.Kind)
	case (r.Kind == "") != (r.Ref == 0):
		return fmt.Errorf("%w: a recall, edit or delete names the seq it changes", ErrInvalid)
	case r.Kind != "" && r.Conv == "":
		return fmt.Errorf("%w: a recall, edit or delete names its conversation", ErrInvalid)
	case !validID(r.Device):
		return fmt.Errorf("%w: device id", ErrInvalid)
	case !validID(r.ClientID):
		return fmt.Errorf("%w: client message id", ErrInvalid)
	case len(r.Body) == 0:
		return fmt.Errorf("%w: empty body", ErrInvalid)
	}
	return nil
}

// appendDigest is the digest of what r asks for.
func appendDigest(r *AppendRequest) [digestSize]byte {
	if r.Kind == "" && r.Conv == "" {
		return digest(r.To, r.Body) // as every 1:1 message before groups
	}
	return digest(r.To+"\x00"+r.Conv+"\x00"+r.Kind+"\x00"+strconv.FormatUint(r.Ref, 10), r.Body)
}

// digest identifies what a client id was used for: a retry must send the same
// recipient and body.
func digest(to string, body []byte) [digestSize]byte {
	h := sha256.New()
	h.Write([]byte(to))
	h.Write([]byte{0})
	h.Write(body)
	var d [digestSize]byte
	copy(d[:], h.Sum(nil))
	return d
}

// appendOp is a queued Append or Submit.
type appendOp struct {
	req    AppendRequest
	digest [digestSize]byte
	done   func(Ack, error)
	ack    Ack

	// Set by precheck: no dedup record existed when applied batches were
	// preGen.
	preGen    uint64
	preAbsent bool
}

func (o *appendOp) apply(c *committer) error {
	r := &o.req
	key := dedupKey(r.From, r.Device, r.ClientID)
	var v []byte
	found, err := false, error(nil)
	if !o.preAbsent || c.seenSince(key, o.preGen) {
		if v, found, err = c.get(key); err != nil {
			return err
		}
	}
	if !found {
		o.ack, err = c.appendMessage(o)
		return err
	}
	rec, err := decodeDedup(v)
	if err != nil {
		return err
	}
	if rec.Digest != o.digest {
		return fmt.Errorf("%w: %q", ErrConflict, r.ClientID)
	}
	o.ack = rec.Ack
	o.ack.Duplicate = true
	return nil
}

func (o *appendOp) finish(err error) {
	if o.done == nil {
		return
	}
	if err != nil {
		o.done(Ack{}, err)
		return
	}
	o.done(o.ack, nil)
}

// cursorOp is a queued SetCursor.
type cursorOp struct {
	user, device string
	pts          uint64
	delivered    []ConvSeq
	stored       uint64
	advanced     []ConvSeq  // the delivered marks that moved
	done         chan error // buffered: finish never blocks
}

func (o *cursorOp) apply(c *committer) error {
	head, err := c.loadUser(o.user)
	if err != nil {
		return err
	}
	if o.pts > head {
		return fmt.Errorf("%w: cursor %d beyond inbox head %d", ErrInvalid, o.pts, head)
	}
	key := cursorKey(o.user, o.device)
	old, err := c.getUvarint(key)
	if err != nil {
		return err
	}
	o.stored = max(old, o.pts)
	if o.pts > old {
		c.put(key, encodeUvarint(o.pts))
	}
	for _, d := range o.delivered {
		k := deliveredKey(o.user, d.Conv)
		mark, err := c.getUvarint(k)
		if err != nil {
			return err
		}
		if d.Seq > mark {
			c.put(k, encodeUvarint(d.Seq))
			o.advanced = append(o.advanced, d)
		}
	}
	return nil
}

func (o *cursorOp) finish(err error) { o.done <- err }

// markReadOp is a queued MarkRead.
type markReadOp struct {
	user, conv string
	seq        uint64
	mark       ReadMark
	done       chan error // buffered: finish never blocks
}

func (o *markReadOp) apply(c *committer) error {
	v, member, err := c.get(memberKey(o.user, o.conv))
	if err != nil {
		return err
	}
	if !member {
		return ErrNotFound
	}
	ms, err := decodeMembership(v)
	if err != nil {
		return err
	}
	last, err := c.loadConv(o.conv)
	if err != nil {
		return err
	}
	if _, hi := ms.window(last); o.seq > hi {
		return fmt.Errorf("%w: read mark %d beyond last message %d", ErrInvalid, o.seq, hi)
	}
	old, err := c.getUvarint(markKey(o.user, o.conv))
	if err != nil {
		return err
	}
	// A group's other members ask for receipts; only the reader's own
	// devices are told.
	members, ok := directMembers(o.conv)
	if !ok {
		members = []string{o.user}
	}
	o.mark = ReadMark{Conv: o.conv, Seq: max(old, o.seq), Advanced: o.seq > old, Members: members}
	if o.mark.Advanced {
		c.setMark(o.user, o.conv, o.seq)
	}
	return nil
}

func (o *markReadOp) finish(err error) { o.done <- err }
