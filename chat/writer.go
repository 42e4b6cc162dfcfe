package chat

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"

	"github.com/coder/websocket"

	"github.com/loftchat/loft/history"
)

// outItem is one thing for the writer: a ready frame, an inbox entry, or a
// sync request.
type outItem struct {
	frame []byte
	pts   uint64
	msg   *encodedMessage
	sync  *syncRequest
}

type syncRequest struct {
	id          string
	after       uint64
	groupsAfter *uint64 // the groups_mark of the device's last sync, if any
}

// outQueue is a session's bounded queue to its writer. Pushing never blocks:
// a push beyond the bound closes the session with CloseSlow instead.
//
// The writer goroutine runs only while there is work: a push to an idle
// queue starts it, and it exits when the queue is empty. An idle connection
// then holds no writer stack, which is most of what it would cost.
type outQueue struct {
	mu      sync.Mutex
	items   []outItem // guarded by mu
	spare   []outItem // guarded by mu: the writer's last slice, for reuse
	max     int
	closed  bool                 // guarded by mu: no more pushes
	drain   bool                 // guarded by mu: write what is queued before closing
	code    websocket.StatusCode // guarded by mu
	reason  string               // guarded by mu
	running bool                 // guarded by mu: a writer goroutine is on it
	start   func()               // starts a writer goroutine; called with mu held
	done    bool                 // guarded by mu: the close was performed
	room    sync.Cond            // on mu: signalled when the writer takes items or the queue closes
}

func (q *outQueue) init(max int, start func()) {
	q.max = max
	q.start = start
	q.room.L = &q.mu
}

// waitRoom blocks the session's reader while the queue is half full or
// more, until the writer takes it or the queue closes. A client that sends
// requests faster than it reads their answers is then slowed down by TCP
// instead of being closed as slow by its own answers; the other half of the
// queue is for what other users send it.
func (q *outQueue) waitRoom() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) >= q.max/2 && !q.closed {
		q.room.Wait()
	}
}

// wakeLocked starts a writer unless one is running or all is done.
func (q *outQueue) wakeLocked() {
	if !q.running && !q.done {
		q.running = true
		q.start()
	}
}

func (q *outQueue) push(it outItem) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if len(q.items) >= q.max {
		q.closeLocked(CloseSlow, "too far behind; reconnect and sync", false)
		return
	}
	q.items = append(q.items, it)
	q.wakeLocked()
}

// close makes the writer close the socket with code, after writing what is
// queued if drain is set. The first close wins.
func (q *outQueue) close(code websocket.StatusCode, reason string, drain bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closeLocked(code, reason, drain)
}

// closeIf closes only if cond, evaluated under the queue lock, holds.
func (q *outQueue) closeIf(cond func() bool, code websocket.StatusCode, reason string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if cond() {
		q.closeLocked(code, reason, true)
	}
}

func (q *outQueue) closeLocked(code websocket.StatusCode, reason string, drain bool) {
	if q.closed {
		return
	}
	q.room.Broadcast()
	q.closed, q.drain, q.code, q.reason = true, drain, code, reason
	if !drain {
		q.items = nil
	}
	q.wakeLocked()
}

// take hands the queued items to the writer, with the close to perform
// after them, if any. With nothing to do it marks the writer stopped and
// returns ok false: the writer must exit.
func (q *outQueue) take(w *writer) (items []outItem, closing bool, code websocket.StatusCode, reason string, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 && !q.closed {
		if cap(w.batch) > 8<<10 {
			w.batch = nil // an idle connection keeps no big buffer
		}
		q.running = false
		return nil, false, 0, "", false
	}
	items, q.items = q.items, q.spare[:0]
	q.spare = nil
	q.room.Broadcast()
	if q.closed {
		q.done = true // this pass performs the close; no writer after it
	}
	return items, q.closed, q.code, q.reason, true
}

func (q *outQueue) recycle(items []outItem) {
	clear(items)
	q.mu.Lock()
	if cap(items) <= 4*q.max {
		q.spare = items[:0]
	}
	q.mu.Unlock()
}

// maxBatchBytes bounds one coalesced messages frame.
const maxBatchBytes = 64 << 10

// writer is the state of a session's writer goroutine.
type writer struct {
	s     *session
	live  bool   // the device has synced and gets entries as they commit
	sent  uint64 // the highest pts written to the device
	batch []byte // a messages frame being built, or empty
	err   error  // the first write error; nothing is written after it
}

// writeLoop runs while the queue has work; s.w keeps the device's state
// between runs (one run at a time: the queue's lock hands it over).
func (s *session) writeLoop() {
	w := &s.w
	for {
		items, closing, code, reason, ok := s.q.take(w)
		if !ok {
			return // w belongs to the next writer now
		}
		// One pass, one syscall: frames are buffered until uncork.
		s.cork.cork()
		for i := range items {
			w.handle(&items[i])
		}
		w.flush()
		if err := s.cork.uncork(); err != nil && w.err == nil {
			w.err = err
		}
		s.q.recycle(items)
		if w.err != nil {
			s.q.close(websocket.StatusInternalError, "", false) // drop what is queued
			s.conn.CloseNow()
			return
		}
		if closing {
			s.conn.Close(code, reason)
			return
		}
	}
}

func (w *writer) handle(it *outItem) {
	switch {
	case it.msg != nil:
		w.entry(it.pts, it.msg)
	case it.sync != nil:
		w.flush()
		w.sync(it.sync)
	default:
		w.flush()
		w.write(it.frame)
	}
}

// entry sends one live inbox entry unless the device has it already. An
// entry beyond the next one means some were not delivered live; they are
// read from the store, so the device never sees a gap.
func (w *writer) entry(pts uint64, em *encodedMessage) {
	if !w.live || pts <= w.sent {
		return
	}
	if pts > w.sent+1 {
		w.fill(pts - 1)
		if pts <= w.sent {
			return
		}
	}
	w.add(pts, em)
}

// fill reads the inbox from the store up to and including upTo.
func (w *writer) fill(upTo uint64) {
	for w.sent < upTo && w.err == nil {
		limit := min(int(upTo-w.sent), w.s.srv.cfg.SyncPage)
		entries, err := w.s.srv.cfg.Store.ReadInbox(w.s.user, w.sent, limit)
		if err != nil || len(entries) == 0 {
			w.s.log.Error("fill inbox gap", logErr, err)
			w.live = false
			w.flush()
			w.write(encodeError("", CodeInternal, "live delivery interrupted; sync again"))
			return
		}
		for _, e := range entries {
			w.add(e.Pts, encodeMessage(e.Message))
		}
	}
}

func (w *writer) add(pts uint64, em *encodedMessage) {
	if len(w.batch) == 0 {
		w.batch = append(w.batch, `{"type":"messages","messages":[`...)
	} else {
		w.batch = append(w.batch, ',')
	}
	w.batch = appendEntry(w.batch, pts, em, w.s.user)
	w.sent = pts
	if len(w.batch) >= maxBatchBytes {
		w.flush()
	}
}

func (w *writer) flush() {
	if len(w.batch) == 0 {
		return
	}
	w.batch = append(w.batch, "]}"...)
	w.write(w.batch)
	w.batch = w.batch[:0]
}

func (w *writer) write(frame []byte) {
	if w.err != nil {
		return
	}
	// No deadline here: the socket is corked, and the corkConn bounds the
	// real write with the write timeout.
	w.err = w.s.conn.Write(context.Background(), websocket.MessageText, frame)
}

// sync streams the inbox after req.after in pages, then turns live: the
// session was attached to the router before, so every entry committed
// after the last page is in the queue behind this request.
func (w *writer) sync(req *syncRequest) {
	store := w.s.srv.cfg.Store
	head, err := store.InboxHead(w.s.user)
	if err != nil {
		w.syncFailed(req, err)
		return
	}
	if req.after > head {
		w.write(encodeError(req.id, CodeBadFrame, `"after" is beyond the inbox head `+strconv.FormatUint(head, 10)))
		return
	}
	w.live = false
	w.sent = req.after
	for w.err == nil {
		entries, err := store.ReadInbox(w.s.user, w.sent, w.s.srv.cfg.SyncPage)
		var reset *history.ResetError
		if errors.As(err, &reset) {
			w.write(encodeJSON("reset", req.id, struct {
				Floor uint64 `json:"floor"`
			}{reset.Floor}))
			return
		}
		if err != nil {
			w.syncFailed(req, err)
			return
		}
		if len(entries) == 0 {
			break
		}
		// One store page may become several frames: a frame holds at
		// most maxBatchBytes, so big bodies do not make huge frames.
		var b []byte
		for _, e := range entries {
			if len(b) == 0 {
				b = appendHead(w.batch[:0], "messages", req.id)
				b = append(b, `,"messages":[`...)
			} else {
				b = append(b, ',')
			}
			b = appendEntry(b, e.Pts, encodeMessage(e.Message), w.s.user)
			w.sent = e.Pts
			if len(b) >= maxBatchBytes {
				w.batch = append(b, "]}"...)
				w.write(w.batch)
				b = nil
			}
		}
		if len(b) > 0 {
			w.batch = append(b, "]}"...)
			w.write(w.batch)
		}
		w.batch = w.batch[:0]
		if len(entries) < w.s.srv.cfg.SyncPage {
			break
		}
	}
	// Read-fan-out groups have no inbox entries: the device hears which
	// moved on since its last mark, and group_seq frames after that, since
	// the session was attached before the mark was taken.
	after := uint64(math.MaxUint64)
	if req.groupsAfter != nil {
		after = *req.groupsAfter
	}
	moved, mark, err := store.GroupsMoved(w.s.user, after)
	if err != nil {
		w.syncFailed(req, err)
		return
	}
	groups := make([]groupSeqJSON, len(moved))
	for i, g := range moved {
		groups[i] = groupSeqJSON{g.Conv, g.Seq}
	}
	w.live = true
	w.write(encodeJSON("synced", req.id, struct {
		Pts        uint64         `json:"pts"`
		Groups     []groupSeqJSON `json:"groups"`
		GroupsMark uint64         `json:"groups_mark"`
	}{w.sent, groups, mark}))
}

type groupSeqJSON struct {
	Conv string `json:"conv"`
	Seq  uint64 `json:"seq"`
}

func (w *writer) syncFailed(req *syncRequest, err error) {
	w.s.log.Error("sync", logErr, err)
	code, msg := errorCode(err)
	w.write(encodeError(req.id, code, msg))
}
