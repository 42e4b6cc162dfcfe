package history

import (
	"errors"
	"fmt"

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
		synced <- c.apply(ops)
	}
}

// pendingBatch is an applied batch waiting for its fsync, with the ops to
// answer once it is durable.
type pendingBatch struct {
	batch    *pebble.Batch // nil when nothing was written
	ops      []op
	errs     []error
	appended []Appended
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
	}
	c.batch, c.batchErr, c.appended = nil, nil, nil
	clear(c.staged)
	if len(c.convSeq)+len(c.userPts) > maxCachedCounters {
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
			}
		}
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
}

// appendMessage stages a new message of a direct conversation, after the
// caller found no dedup record for it.
func (c *committer) appendMessage(o *appendOp) (Ack, error) {
	r := &o.req
	conv := DirectConv(r.From, r.To)
	members := []string{r.From}
	if r.To != r.From {
		members = append(members, r.To)
	}
	if err := c.loadGlobal(); err != nil {
		return Ack{}, err
	}
	prevSeq, err := c.loadConv(conv)
	if err != nil {
		return Ack{}, err
	}
	for _, m := range members {
		if _, err := c.loadUser(m); err != nil {
			return Ack{}, err
		}
	}

	// Every read is done: from here on the op only stages writes.
	now := c.s.cfg.Now().UnixMilli()
	c.lastTime = max(c.lastTime, now)
	c.global++
	c.globalDirty = true
	seq := prevSeq + 1
	c.convSeq[conv] = seq
	c.convDirty[conv] = struct{}{}
	msg := &Message{
		ID:       c.global,
		Conv:     conv,
		Seq:      seq,
		From:     r.From,
		Device:   r.Device,
		ClientID: r.ClientID,
		Time:     c.lastTime,
		Body:     r.Body,
	}
	refs := make([]InboxRef, len(members))
	for i, m := range members {
		pts := c.userPts[m] + 1
		c.userPts[m] = pts
		c.userDirty[m] = struct{}{}
		refs[i] = InboxRef{User: m, Pts: pts}
		c.set(inboxKey(m, pts), inboxValue(conv, seq))
	}
	c.set(msgKey(conv, seq), encodeMessage(msg, refs))
	if prevSeq == 0 {
		for _, m := range members {
			c.put(memberKey(m, conv), []byte{})
		}
	}
	// Own messages count as read; seq is above any mark, so no max needed.
	c.put(readMarkKey(r.From, conv), encodeUvarint(seq))

	ack := Ack{ID: msg.ID, Conv: conv, Seq: seq, Time: msg.Time, Pts: refs[0].Pts}
	expiry := now + c.s.cfg.DedupWindow.Milliseconds()
	dk := dedupKey(r.From, r.Device, r.ClientID)
	c.put(dk, encodeDedup(&dedupRecord{Ack: ack, Digest: o.digest, Expiry: expiry}))
	c.genKeys = append(c.genKeys, string(dk))
	c.set(expiryKey(expiry, r.From, r.Device, r.ClientID), nil)
	c.appended = append(c.appended, Appended{Message: msg, Inbox: refs})
	return ack, nil
}
