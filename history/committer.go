package history

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// maxCachedCounters bounds the committer's counter caches: past it they are
// dropped after a commit and reloaded from Pebble on demand.
const maxCachedCounters = 1 << 20

// op is one write request to the committer.
type op interface {
	// apply stages the op's writes in the committer's batch. It does every
	// read that can fail before its first write, so an error leaves nothing
	// of the op in the batch; it fails this op only.
	apply(c *committer) error
	// finish reports the outcome once the batch is durable (or failed). It
	// runs on the committer goroutine and must not block.
	finish(err error)
}

// committer is the only writer of messages, counters, membership, read marks,
// cursors and dedup records. It runs on its own goroutine, started by Open;
// all of its fields belong to that goroutine.
type committer struct {
	s  *Store
	db *pebble.DB

	batch    *pebble.Batch // the batch being built
	batchErr error         // first error staging a write in batch
	// staged holds the records of the batch being built that a later op of
	// the same batch may read: membership, read marks, cursors, dedup records.
	staged map[string][]byte

	// Dedup keys written by recently applied batches, for seenSince: key
	// to batch generation, and each kept generation's keys, oldest first.
	recentDedup map[string]uint64
	recentGens  [][]string
	genKeys     []string   // dedup keys of the batch being built
	appended    []Appended // messages of the batch being built, for OnCommit

	// Groups as staged, loaded lazily; those the batch being built changed,
	// and the group read marks it moved, to publish once it is durable.
	groups        map[string]*groupState
	changedGroups map[string]*Group
	marks         []markChange

	// Counters: the last value assigned, committed or staged. Loaded lazily
	// from Pebble; written to the batch once per batch if dirty.
	global       uint64
	globalLoaded bool
	globalDirty  bool
	convSeq      map[string]uint64
	convDirty    map[string]struct{}
	userPts      map[string]uint64
	userDirty    map[string]struct{}
	lastTime     int64 // Unix ms of the last message: times never decrease
}

func newCommitter(s *Store) *committer {
	return &committer{
		s:      s,
		db:     s.db,
		staged: make(map[string][]byte),

		recentDedup: make(map[string]uint64),
		convSeq:     make(map[string]uint64),
		convDirty:   make(map[string]struct{}),
		userPts:     make(map[string]uint64),
		userDirty:   make(map[string]struct{}),

		groups:        make(map[string]*groupState),
		changedGroups: make(map[string]*Group),
	}
}

// run takes requests until Close closes the queue: it blocks for one, takes
// whatever else is already queued (up to MaxBatch in all) and commits them
// together with one fsync.
func (c *committer) run() {
	// Batches are applied here, in order, and their fsync is awaited by
	// waitLoop, so the next batch is built and applied while the previous
	// one syncs. One batch may wait in the channel: at most two unsynced.
	synced := make(chan *pendingBatch, 1)
	waiterDone := make(chan struct{})
	go func() {
		defer close(waiterDone)
		c.waitLoop(synced)
	}()
	defer func() {
		close(synced)
		<-waiterDone
		close(c.s.committed)
	}()
	for {
		first, ok := <-c.s.reqs
		if !ok {
			return
		}
		ops := make([]op, 1, min(c.s.cfg.MaxBatch, 1+len(c.s.reqs)))
		ops[0] = first
	drain:
		for len(ops) < c.s.cfg.MaxBatch {
			select {
			case o, ok := <-c.s.reqs:
				if !ok {
					break drain // commit what we have; the next receive returns
				}
				ops = append(ops, o)
			default:
				break drain
			}
		}
		p := c.apply(ops)
		p.applied = time.Now()
		synced <- p
	}
}

// pendingBatch is an applied batch waiting for its fsync, with the ops to
// answer once it is durable.
type pendingBatch struct {
	batch    *pebble.Batch // nil when nothing was written
	ops      []op
	errs     []error
	appended []Appended
	groups   map[string]*Group // changed by the batch
	marks    []markChange      // group read marks the batch moved
	applied  time.Time         // when the batch was handed to Pebble
}

// apply stages ops in one batch and applies it without waiting for the WAL
// fsync (ApplyNoSyncWait keeps commit order, which two goroutines calling
// Commit would not). Nothing is answered here: waitLoop answers in order,
// after the fsync, so no reply and no OnCommit runs ahead of durability.
func (c *committer) apply(ops []op) *pendingBatch {
	c.batch = c.db.NewBatch()
	p := &pendingBatch{ops: ops, errs: make([]error, len(ops))}
	for i, o := range ops {
		if err := o.apply(c); err != nil {
			p.errs[i] = err
		}
	}
	c.flushDeferred()
	err := c.batchErr
	if err == nil {
		err = c.s.syncErr()
	}
	if err == nil && !c.batch.Empty() {
		// Under walMu, the log cannot have failed since this look at it.
		c.s.walMu.Lock()
		if err = c.s.syncErr(); err == nil {
			if err = c.db.ApplyNoSyncWait(c.batch, pebble.Sync); err == nil {
				p.batch = c.batch
			}
		}
		c.s.walMu.Unlock()
	}
	if p.batch == nil {
		err = errors.Join(err, c.batch.Close())
	}
	if err == nil && p.batch != nil {
		c.rememberApplied()
	}
	c.genKeys = c.genKeys[:0]
	if err != nil {
		// Nothing of the batch is stored: every op fails (a duplicate may
		// have been answered from a staged record), and the counters are
		// reloaded so that sequences keep no gaps.
		err = fmt.Errorf("history: commit: %w", err)
		for i := range p.errs {
			p.errs[i] = err
		}
		c.forgetCounters()
	} else {
		p.appended = c.appended
		if len(c.changedGroups) > 0 {
			p.groups = c.changedGroups
			c.changedGroups = make(map[string]*Group)
		}
		p.marks = c.marks
	}
	clear(c.changedGroups)
	c.batch, c.batchErr, c.appended, c.marks = nil, nil, nil, nil
	clear(c.staged)
	if len(c.convSeq)+len(c.userPts)+len(c.groups) > maxCachedCounters {
		c.forgetCounters()
	}
	return p
}

// keptGens is how many applied batches' dedup keys seenSince remembers.
const keptGens = 64

// rememberApplied records the dedup keys of the batch just applied and
// advances the applied generation.
func (c *committer) rememberApplied() {
	gen := c.s.appliedGen.Load() + 1
	keys := make([]string, len(c.genKeys))
	copy(keys, c.genKeys)
	for _, k := range keys {
		c.recentDedup[k] = gen
	}
	c.s.addDedup(keys)
	c.recentGens = append(c.recentGens, keys)
	if len(c.recentGens) > keptGens {
		for _, k := range c.recentGens[0] {
			if c.recentDedup[k] <= gen-keptGens {
				delete(c.recentDedup, k)
			}
		}
		c.recentGens[0] = nil
		c.recentGens = c.recentGens[1:]
	}
	c.s.appliedGen.Store(gen)
}

// seenSince reports whether a dedup key may have been written after
// applied generation gen: by the batch being built, by a batch applied
// since, or by one too old to be remembered.
func (c *committer) seenSince(key []byte, gen uint64) bool {
	if _, ok := c.staged[string(key)]; ok {
		return true
	}
	cur := c.s.appliedGen.Load()
	if cur-gen >= keptGens {
		return true
	}
	g, ok := c.recentDedup[string(key)]
	return ok && g > gen
}

// waitLoop waits for each applied batch's fsync, in order, then publishes
// its messages (durable watermark, OnCommit) and answers its ops. A failed
// fsync fails its batch and every later one: the WAL is no longer to be
// trusted, and the store must be reopened.
func (c *committer) waitLoop(batches <-chan *pendingBatch) {
	for p := range batches {
		if p.batch != nil {
			err := p.batch.SyncWait()
			if c.s.cfg.OnSync != nil {
				c.s.cfg.OnSync(time.Since(p.applied))
			}
			err = errors.Join(err, p.batch.Close())
			if err == nil {
				err = c.s.syncErr()
			}
			if err != nil {
				err = fmt.Errorf("history: commit: %w", c.s.setSyncErr(err))
				for i := range p.errs {
					p.errs[i] = err
				}
				p.appended = nil
				p.groups, p.marks = nil, nil
			}
		}
		// Readers see group changes once they are durable, before the
		// messages that announce them reach any device.
		for conv, g := range p.groups {
			c.s.groupCache.publish(conv, g)
		}
		c.s.markCache.apply(p.marks)
		if len(p.appended) > 0 {
			c.s.durableID.Store(p.appended[len(p.appended)-1].Message.ID)
			if c.s.cfg.OnCommit != nil {
				c.s.cfg.OnCommit(p.appended)
			}
		}
		for i, o := range p.ops {
			o.finish(p.errs[i])
		}
	}
}

// set stages a write that no later op of the batch reads back.
func (c *committer) set(key, value []byte) {
	if err := c.batch.Set(key, value, nil); err != nil && c.batchErr == nil {
		c.batchErr = err
	}
}

// put stages a write that a later op of the same batch may read with get.
// It reaches the batch when the batch is complete (flushDeferred), once per
// key: a sender's read mark moves with each of its messages, and writing
// only the last one keeps the memtable and compactions from churning
// through values that are dead before they are durable.
func (c *committer) put(key, value []byte) {
	c.staged[string(key)] = value
}

// get reads a record as the batch being built sees it.
func (c *committer) get(key []byte) (v []byte, found bool, err error) {
	if v, ok := c.staged[string(key)]; ok {
		return v, true, nil
	}
	return getValue(c.db, key)
}

// getUvarint reads a uvarint record as the batch being built sees it.
func (c *committer) getUvarint(key []byte) (uint64, error) {
	v, found, err := c.get(key)
	if err != nil || !found {
		return 0, err
	}
	return decodeUvarint(v)
}

// loadGlobal makes sure the global id counter is loaded.
func (c *committer) loadGlobal() error {
	if c.globalLoaded {
		return nil
	}
	v, err := getUvarint(c.db, globalIDKey())
	if err != nil {
		return err
	}
	c.global, c.globalLoaded = v, true
	return nil
}

// loadConv returns the last seq of conv. Loading it also loads the time of
// its last message, so that times stay ordered within the conversation after
// a restart even if the clock went back.
func (c *committer) loadConv(conv string) (uint64, error) {
	if v, ok := c.convSeq[conv]; ok {
		return v, nil
	}
	v, err := getUvarint(c.db, convSeqKey(conv))
	if err != nil {
		return 0, err
	}
	if v > 0 {
		m, found, err := getMessage(c.db, conv, v)
		if err != nil {
			return 0, err
		}
		if found {
			c.lastTime = max(c.lastTime, m.Time)
		}
	}
	c.convSeq[conv] = v
	return v, nil
}

// loadUser returns the last pts of user's inbox.
func (c *committer) loadUser(user string) (uint64, error) {
	if v, ok := c.userPts[user]; ok {
		return v, nil
	}
	v, err := getUvarint(c.db, userPtsKey(user))
	if err != nil {
		return 0, err
	}
	c.userPts[user] = v
	return v, nil
}

// flushDeferred writes the staged records and the counters the batch
// advanced, each once.
func (c *committer) flushDeferred() {
	for k, v := range c.staged {
		c.set([]byte(k), v)
	}
	if c.globalDirty {
		c.set(globalIDKey(), encodeUvarint(c.global))
		c.globalDirty = false
	}
	for conv := range c.convDirty {
		c.set(convSeqKey(conv), encodeUvarint(c.convSeq[conv]))
	}
	clear(c.convDirty)
	for user := range c.userDirty {
		c.set(userPtsKey(user), encodeUvarint(c.userPts[user]))
	}
	clear(c.userDirty)
}

// forgetCounters drops the cached counters; they are reloaded from Pebble.
func (c *committer) forgetCounters() {
	c.globalLoaded = false
	clear(c.convSeq)
	clear(c.userPts)
	clear(c.groups)
}

// appendMessage stages a new message, after the caller found no dedup
// record for it: to a user, a group, or an existing direct conversation,
// and for a recall, edit or delete, the change to the message it names.
func (c *committer) appendMessage(o *appendOp) (Ack, error) {
	r := &o.req
	n := &newMessage{from: r.From, device: r.Device, cid: r.ClientID, digest: o.digest, body: r.Body, kind: r.Kind, ref: r.Ref}
	switch {
	case r.To != "":
		n.conv = DirectConv(r.From, r.To)
		n.direct = []string{r.From}
		if r.To != r.From {
			n.direct = append(n.direct, r.To)
		}
	case isGroup(r.Conv):
		gs, found, err := c.loadGroup(r.Conv)
		if err != nil {
			return Ack{}, err
		}
		if !found {
			return Ack{}, ErrNotFound
		}
		if _, ok := gs.g.Member(r.From); !ok {
			return Ack{}, ErrForbidden
		}
		n.conv, n.group, n.gs = r.Conv, gs.g, gs
	default:
		members, ok := directMembers(r.Conv)
		if !ok || !slices.Contains(members, r.From) {
			return Ack{}, ErrNotFound
		}
		n.conv, n.direct = r.Conv, members
	}
	var orig *Message
	var origRefs []InboxRef
	if r.Kind != "" {
		var err error
		if orig, origRefs, err = c.checkChange(n); err != nil {
			return Ack{}, err
		}
	}
	if err := c.prepare(n); err != nil {
		return Ack{}, err
	}
	ack := c.stage(n)
	if orig != nil {
		switch r.Kind {
		case KindRecall:
			orig.Recalled, orig.Body = true, []byte("{}")
		case KindDelete:
			orig.Deleted, orig.Body = true, []byte("{}")
		case KindEdit:
			orig.Edited, orig.Body = ack.Time, r.Body
		}
		c.put(msgKey(n.conv, orig.Seq), encodeMessage(orig, origRefs))
	}
	return ack, nil
}

// checkChange reads the message a recall, edit or delete names and checks
// the actor may change it now.
func (c *committer) checkChange(n *newMessage) (*Message, []InboxRef, error) {
	v, found, err := c.get(msgKey(n.conv, n.ref))
	if err != nil {
		return nil, nil, err
	}
	if !found {
		return nil, nil, ErrNotFound
	}
	var refs []InboxRef
	orig, err := decodeMessage(n.conv, n.ref, v, &refs)
	if err != nil {
		return nil, nil, err
	}
	if n.group != nil {
		// A member cannot change what was sent before it joined.
		if m, _ := n.group.Member(n.from); orig.Seq < m.JoinSeq {
			return nil, nil, ErrNotFound
		}
	}
	switch {
	case orig.Kind != "":
		return nil, nil, fmt.Errorf("%w: only a message can be changed, not a %s", ErrInvalid, orig.Kind)
	case orig.Recalled || orig.Deleted:
		return nil, nil, fmt.Errorf("%w: the message was recalled or deleted", ErrInvalid)
	}
	age := c.s.cfg.Now().UnixMilli() - orig.Time
	switch n.kind {
	case KindRecall, KindEdit:
		if orig.From != n.from {
			return nil, nil, ErrForbidden
		}
		window := c.s.cfg.RecallWindow
		if n.kind == KindEdit {
			window = c.s.cfg.EditWindow
		}
		if age > window.Milliseconds() {
			return nil, nil, ErrTooLate
		}
	case KindDelete:
		if n.group == nil || !n.group.canManage(n.from) {
			return nil, nil, ErrForbidden
		}
	}
	if n.kind != KindEdit {
		n.body = []byte("{}")
	}
	return orig, refs, nil
}

// newMessage is a message an op is about to stage: prepare does its reads,
// stage its writes.
type newMessage struct {
	conv, from, device, cid string
	digest                  [digestSize]byte
	body                    []byte
	kind                    string
	ref                     uint64

	// A direct conversation's members, or for a group: the group after
	// the message (its members get it), its state, and users who get it
	// besides (the ones a removal takes out).
	direct []string
	group  *Group
	gs     *groupState
	also   []string

	prevSeq    uint64
	readFanout bool
}

// recipients returns who gets n.
func (n *newMessage) recipients() []string {
	if n.group == nil {
		return n.direct
	}
	out := make([]string, 0, n.group.Len()+len(n.also))
	for _, m := range n.group.members {
		out = append(out, m.User)
	}
	return append(out, n.also...)
}

// prepare does every read n needs: counters, and each recipient's inbox
// counter for a write fan-out.
func (c *committer) prepare(n *newMessage) error {
	if err := c.loadGlobal(); err != nil {
		return err
	}
	var err error
	if n.prevSeq, err = c.loadConv(n.conv); err != nil {
		return err
	}
	n.readFanout = n.group != nil && n.group.Len()+len(n.also) > c.s.cfg.FanoutLimit
	if n.readFanout {
		return nil
	}
	for _, m := range n.recipients() {
		if _, err := c.loadUser(m); err != nil {
			return err
		}
	}
	return nil
}

// stage writes n after prepare: the message, its inbox entries (write
// fan-out) or the group's activity (read fan-out), the sender's read mark
// and the dedup record.
func (c *committer) stage(n *newMessage) Ack {
	now := c.s.cfg.Now().UnixMilli()
	c.lastTime = max(c.lastTime, now)
	c.global++
	c.globalDirty = true
	seq := n.prevSeq + 1
	c.convSeq[n.conv] = seq
	c.convDirty[n.conv] = struct{}{}
	msg := &Message{
		ID:       c.global,
		Conv:     n.conv,
		Seq:      seq,
		From:     n.from,
		Device:   n.device,
		ClientID: n.cid,
		Time:     c.lastTime,
		Body:     n.body,
		Kind:     n.kind,
		Ref:      n.ref,
	}
	var refs []InboxRef
	ack := Ack{ID: msg.ID, Conv: n.conv, Seq: seq, Time: msg.Time}
	if n.readFanout {
		if n.gs.activity > 0 {
			c.del(activityKey(n.gs.activity, n.conv))
		}
		n.gs.activity = msg.ID
		c.set(activityKey(msg.ID, n.conv), nil)
		c.putGroup(n.gs)
	} else {
		users := n.recipients()
		refs = make([]InboxRef, len(users))
		for i, m := range users {
			pts := c.userPts[m] + 1
			c.userPts[m] = pts
			c.userDirty[m] = struct{}{}
			refs[i] = InboxRef{User: m, Pts: pts}
			c.set(inboxKey(m, pts), inboxValue(n.conv, seq))
			if m == n.from {
				ack.Pts = pts
			}
		}
	}
	c.set(msgKey(n.conv, seq), encodeMessage(msg, refs))
	if len(refs) > 0 && c.s.cfg.PushPending != nil && c.s.cfg.PushPending(msg, refs) {
		c.set(pendingKey(msg.ID), inboxValue(n.conv, seq))
	}
	if n.group == nil && n.prevSeq == 0 {
		for _, m := range n.direct {
			c.put(memberKey(m, n.conv), []byte{})
		}
	}
	if n.from != "" {
		// Own messages count as read; seq is above any mark, so no max.
		c.setMark(n.from, n.conv, seq)
	}
	if n.from != "" && n.cid != "" {
		expiry := now + c.s.cfg.DedupWindow.Milliseconds()
		dk := dedupKey(n.from, n.device, n.cid)
		c.put(dk, encodeDedup(&dedupRecord{Ack: ack, Digest: n.digest, Expiry: expiry}))
		c.genKeys = append(c.genKeys, string(dk))
		c.set(expiryKey(expiry, n.from, n.device, n.cid), nil)
	}
	a := Appended{Message: msg, Inbox: refs}
	if n.readFanout {
		a.ReadFanout, a.Group, a.Also = true, n.group, n.also
	}
	c.appended = append(c.appended, a)
	return ack
}

// setMark stages user's read mark of conv; a group's marks are also kept in
// memory for receipts once the batch is durable.
func (c *committer) setMark(user, conv string, seq uint64) {
	c.put(markKey(user, conv), encodeUvarint(seq))
	if isGroup(conv) {
		c.marks = append(c.marks, markChange{conv: conv, user: user, seq: seq})
	}
}

// del stages a deletion.
func (c *committer) del(key []byte) {
	delete(c.staged, string(key))
	if err := c.batch.Delete(key, nil); err != nil && c.batchErr == nil {
		c.batchErr = err
	}
}

// checkDedup looks up the dedup record of a user's client id: dup reports a
// retry, answered with the first Ack. No client id (the system) has none.
func (c *committer) checkDedup(from, device, cid string, d [digestSize]byte) (ack Ack, dup bool, err error) {
	if from == "" || cid == "" {
		return Ack{}, false, nil
	}
	v, found, err := c.get(dedupKey(from, device, cid))
	if err != nil || !found {
		return Ack{}, false, err
	}
	rec, err := decodeDedup(v)
	if err != nil {
		return Ack{}, false, err
	}
	if rec.Digest != d {
		return Ack{}, false, fmt.Errorf("%w: %q", ErrConflict, cid)
	}
	ack = rec.Ack
	ack.Duplicate = true
	return ack, true, nil
}
