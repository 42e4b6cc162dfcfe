package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

// The load and the bookkeeping the process tests share: sending users with
// their outboxes, receiving devices with their inboxes, and a ledger that
// checks every ack against every other, across server restarts.

// sendUser is a user sending from one device; msgs is its outbox, kept
// across connections and restarts.
type sendUser struct {
	user, device, token string
	to                  []string // recipients, in turn
	msgs                []*outMsg
}

func newSendUser(tb testing.TB, user string, to ...string) *sendUser {
	return &sendUser{user: user, device: "dev", token: mintToken(tb, user), to: to}
}

// generate returns a source of new messages until the outbox holds limit.
func (u *sendUser) generate(limit int) func() *outMsg {
	return func() *outMsg {
		n := len(u.msgs)
		if n >= limit {
			return nil
		}
		m := &outMsg{from: u.user, device: u.device, to: u.to[n%len(u.to)], cid: fmt.Sprintf("%s-%d", u.user, n)}
		m.body, _ = json.Marshal(struct {
			CID  string `json:"cid"`
			N    int    `json:"n"`
			Text string `json:"text"`
		}{m.cid, n, "message " + m.cid})
		u.msgs = append(u.msgs, m)
		return m
	}
}

// resend returns a source of ms, in order, then of what then returns.
func resend(ms []*outMsg, then func() *outMsg) func() *outMsg {
	i := 0
	return func() *outMsg {
		if i < len(ms) {
			i++
			return ms[i-1]
		}
		if then == nil {
			return nil
		}
		return then()
	}
}

func (u *sendUser) unacked() []*outMsg {
	var out []*outMsg
	for _, m := range u.msgs {
		if m.ack == nil {
			out = append(out, m)
		}
	}
	return out
}

// pumpResult is how one sender's connection of a server lifetime went.
type pumpResult struct {
	u    *sendUser
	sent []*outMsg
	err  error // nil: every send answered; else how the connection ended
}

// startSenders connects every user (before it returns) and pumps next(u)
// through the ledger, each on its own goroutine. wait returns the results
// once all are done. If awaitClose is set, a pump that finished keeps
// reading until the server closes the connection, whose error becomes the
// result's.
func startSenders(tb testing.TB, ctx context.Context, addr string, users []*sendUser, window int, next func(*sendUser) func() *outMsg, led *ledger, awaitClose bool) (wait func() []pumpResult) {
	tb.Helper()
	results := make([]pumpResult, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		c, err := dialClient(ctx, addr, u.token, u.device)
		if err != nil {
			tb.Fatalf("%s: %v", u.user, err)
		}
		results[i].u = u
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.close()
			results[i].sent, results[i].err = c.pump(ctx, window, next(u), led.answer)
			if results[i].err == nil && awaitClose {
				for results[i].err == nil {
					_, results[i].err = c.read(ctx)
				}
			}
		}()
	}
	return func() []pumpResult {
		wg.Wait()
		return results
	}
}

// startFollowers connects every device (before it returns) and follows its
// inbox on its own goroutine until the connection ends; wait returns each
// device's error.
func startFollowers(tb testing.TB, ctx context.Context, addr string, devs []*inboxDevice) (wait func() []error) {
	tb.Helper()
	errs := make([]error, len(devs))
	var wg sync.WaitGroup
	for i, d := range devs {
		token := mintToken(tb, d.user)
		c, err := dialClient(ctx, addr, token, d.device)
		if err != nil {
			tb.Fatalf("%s/%s: %v", d.user, d.device, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.follow(ctx, c, nil)
			c.close()
			if websocket.CloseStatus(errs[i]) == 4003 {
				d.slowCloses++
				errs[i] = d.followAll(ctx, addr, token, nil)
			}
		}()
	}
	return func() []error {
		wg.Wait()
		return errs
	}
}

// catchUp reconnects every device, syncs from its cursor and follows until
// it holds as many entries as want lists for its user (a short inbox fails
// at ctx's deadline; duplicates show in checkInbox).
func catchUp(tb testing.TB, ctx context.Context, addr string, devs []*inboxDevice, want map[string][]*outMsg) {
	tb.Helper()
	errs := make([]error, len(devs))
	var wg sync.WaitGroup
	for i, d := range devs {
		token, n := mintToken(tb, d.user), len(want[d.user])
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.followAll(ctx, addr, token, func() bool { return len(d.entries) >= n })
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			tb.Errorf("%s/%s catching up: %v (has %d entries, want %d)", devs[i].user, devs[i].device, err, len(devs[i].entries), len(want[devs[i].user]))
		}
	}
}

// byRecipient lists every message of users by recipient.
func byRecipient(users []*sendUser) map[string][]*outMsg {
	out := make(map[string][]*outMsg)
	for _, u := range users {
		for _, m := range u.msgs {
			out[m.to] = append(out[m.to], m)
		}
	}
	return out
}

// ledger records every answer to every send, across server lifetimes, and
// fails the test on an answer a client could notice is wrong: an acked
// message stored again (it was lost), a duplicate ack that differs from the
// original, a number given to two messages, or numbers going backwards.
type ledger struct {
	tb testing.TB

	mu       sync.Mutex
	life     int                // guarded by mu: server lifetime, from 1
	allowErr map[string]bool    // guarded by mu: error codes allowed this life
	firstAck chan struct{}      // closed at the first ack of the life
	gotAck   bool               // guarded by mu
	lifeAcks []*outMsg          // guarded by mu: first acked this life
	lastSeq  map[string]uint64  // guarded by mu: last new seq per connection and conv
	bySeq    map[string]*outMsg // guarded by mu: conv#seq
	byID     map[uint64]*outMsg // guarded by mu
	byPts    map[string]*outMsg // guarded by mu: user#pts
	// Guarded by mu: the highest numbers acked in earlier lives.
	floorID  uint64
	floorSeq map[string]uint64
	floorPts map[string]uint64
	// Guarded by mu: counts of this life.
	acks, dups int
	errs       map[string]int
	failures   int // guarded by mu: problems found, in all lives
	reported   int // guarded by mu: failures when end last counted them
}

// errorf reports a problem; l.mu is held. Past the first 20 problems it
// only counts them, and end reports the count.
func (l *ledger) errorf(format string, args ...any) {
	l.failures++
	if l.failures <= 20 {
		l.tb.Errorf(format, args...)
	}
}

func newLedger(tb testing.TB) *ledger {
	return &ledger{tb: tb, bySeq: map[string]*outMsg{}, byID: map[uint64]*outMsg{}, byPts: map[string]*outMsg{},
		floorSeq: map[string]uint64{}, floorPts: map[string]uint64{}}
}

// begin starts a server lifetime in which errors with the given codes are
// expected answers to a send.
func (l *ledger) begin(allowErr ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.life++
	l.allowErr = map[string]bool{}
	for _, c := range allowErr {
		l.allowErr[c] = true
	}
	l.firstAck = make(chan struct{})
	l.gotAck = false
	l.lastSeq = map[string]uint64{}
	l.acks, l.dups, l.errs = 0, 0, map[string]int{}
}

// answer records one answer to m; pump calls it.
func (l *ledger) answer(m *outMsg, f wireFrame) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f.Type == "error" {
		l.errs[f.Code]++
		if !l.allowErr[f.Code] {
			l.errorf("life %d: send %s answered with error %s: %s", l.life, m.cid, f.Code, f.Message)
		}
		return
	}
	if !l.gotAck {
		l.gotAck = true
		close(l.firstAck)
	}
	l.acks++
	if f.Conv != m.conv() {
		l.errorf("life %d: ack of %s names conversation %q, want %q", l.life, m.cid, f.Conv, m.conv())
	}
	if f.Duplicate {
		l.dups++
	}
	if a := m.ack; a != nil {
		switch {
		case !f.Duplicate:
			l.errorf("ACKED MESSAGE STORED AGAIN: %s was acked in life %d as %s; its resend in life %d was stored anew as %s (the message or its dedup record was lost)",
				m.cid, m.ackLife, a.ackString(), l.life, f.ackString())
		case f.MsgID != a.MsgID || f.Conv != a.Conv || f.Seq != a.Seq || f.Pts != a.Pts || f.TS != a.TS:
			l.errorf("life %d: duplicate ack of %s, %s, differs from its original ack in life %d, %s", l.life, m.cid, f.ackString(), m.ackLife, a.ackString())
		}
		return
	}
	m.ack, m.ackLife = &f, l.life
	l.lifeAcks = append(l.lifeAcks, m)
	l.claim(l.bySeq, fmt.Sprintf("%s#%d", f.Conv, f.Seq), m, "conversation seq")
	l.claim(l.byPts, fmt.Sprintf("%s#%d", m.from, f.Pts), m, "sender inbox pts")
	if o := l.byID[f.MsgID]; o != nil {
		l.errorf("REUSED NUMBER: message id %d acked for %s (life %d) and %s (life %d)", f.MsgID, o.cid, o.ackLife, m.cid, l.life)
	}
	l.byID[f.MsgID] = m
	if !f.Duplicate {
		// One connection's sends are stored in the order sent.
		k := m.from + "/" + m.device + "#" + f.Conv
		if f.Seq <= l.lastSeq[k] {
			l.errorf("life %d: %s got seq %d in %s after an earlier send of the connection got %d", l.life, m.cid, f.Seq, f.Conv, l.lastSeq[k])
		}
		l.lastSeq[k] = f.Seq
	}
}

// acked reports whether a send was acked as seq of conv.
func (l *ledger) acked(conv string, seq uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bySeq[fmt.Sprintf("%s#%d", conv, seq)] != nil
}

func (l *ledger) claim(idx map[string]*outMsg, key string, m *outMsg, what string) {
	if o := idx[key]; o != nil {
		l.errorf("REUSED NUMBER: %s %s acked for %s (life %d) and %s (life %d)", what, key, o.cid, o.ackLife, m.cid, l.life)
	}
	idx[key] = m
}

// end closes a lifetime: a message stored anew in it must be numbered above
// every message stored before it, which the acks of earlier lives and this
// life's duplicate acks (of sends stored in an earlier life, whose acks
// the crash swallowed) reveal.
func (l *ledger) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	floorID := l.floorID
	floorSeq, floorPts := maps.Clone(l.floorSeq), maps.Clone(l.floorPts)
	for _, m := range l.lifeAcks {
		if a := m.ack; a.Duplicate {
			floorID = max(floorID, a.MsgID)
			floorSeq[a.Conv] = max(floorSeq[a.Conv], a.Seq)
			floorPts[m.from] = max(floorPts[m.from], a.Pts)
		}
	}
	for _, m := range l.lifeAcks {
		a := m.ack
		if a.Duplicate {
			continue
		}
		if a.MsgID <= floorID {
			l.errorf("life %d: %s stored as message id %d, not above id %d stored before", l.life, m.cid, a.MsgID, floorID)
		}
		if a.Seq <= floorSeq[a.Conv] {
			l.errorf("life %d: %s stored as %s seq %d, not above seq %d stored before", l.life, m.cid, a.Conv, a.Seq, floorSeq[a.Conv])
		}
		if a.Pts <= floorPts[m.from] {
			l.errorf("life %d: %s stored at %s's pts %d, not above pts %d stored before", l.life, m.cid, m.from, a.Pts, floorPts[m.from])
		}
	}
	for _, m := range l.lifeAcks {
		a := m.ack
		l.floorID = max(l.floorID, a.MsgID)
		l.floorSeq[a.Conv] = max(l.floorSeq[a.Conv], a.Seq)
		l.floorPts[m.from] = max(l.floorPts[m.from], a.Pts)
	}
	l.lifeAcks = nil
	if l.failures > 20 && l.failures != l.reported {
		l.reported = l.failures
		l.tb.Errorf("%d problems so far, the first 20 above", l.failures)
	}
}

// limitedErrors reports the first few problems of a check and counts the
// rest, so that one broken invariant does not bury the log.
type limitedErrors struct {
	tb   testing.TB
	what string
	n    int
}

func (e *limitedErrors) errorf(format string, args ...any) {
	e.tb.Helper()
	e.n++
	if e.n <= 10 {
		e.tb.Errorf(e.what+": "+format, args...)
	}
}

func (e *limitedErrors) done() {
	e.tb.Helper()
	if e.n > 10 {
		e.tb.Errorf("%s: %d more problems", e.what, e.n-10)
	}
}

// checkInbox checks everything one device received, over all its
// connections, against the messages sent to its user: pts 1, 2, 3 ... with
// no gap and no duplicate, each message exactly once as acked, each
// conversation in seq order without gaps, and none missing.
func checkInbox(tb testing.TB, d *inboxDevice, want []*outMsg) {
	tb.Helper()
	e := &limitedErrors{tb: tb, what: d.user + "/" + d.device}
	defer e.done()
	byBody := make(map[string]*outMsg, len(want))
	for _, m := range want {
		byBody[string(m.body)] = m
	}
	seen := make(map[*outMsg]uint64)
	lastSeq := make(map[string]uint64)
	for i, en := range d.entries {
		if en.Pts != uint64(i+1) {
			e.errorf("entry %d has pts %d, want %d (a gap or a duplicate)", i, en.Pts, i+1)
		}
		m := byBody[string(en.Body)]
		if m == nil {
			e.errorf("pts %d: a message nobody sent to %s: %s", en.Pts, d.user, en.Body)
			continue
		}
		if p, ok := seen[m]; ok {
			e.errorf("DUPLICATE: %s delivered at pts %d and again at pts %d", m.cid, p, en.Pts)
		}
		seen[m] = en.Pts
		if a := m.ack; a == nil || en.ID != a.MsgID || en.Conv != a.Conv || en.Seq != a.Seq {
			e.errorf("pts %d: %s delivered as id %d %s seq %d, but acked as %s", en.Pts, m.cid, en.ID, en.Conv, en.Seq, a.ackString())
		}
		if en.From != m.from || en.Device != m.device {
			e.errorf("pts %d: %s from %s/%s, want %s/%s", en.Pts, m.cid, en.From, en.Device, m.from, m.device)
		}
		if en.Seq != lastSeq[en.Conv]+1 {
			e.errorf("pts %d: %s seq %d follows seq %d", en.Pts, en.Conv, en.Seq, lastSeq[en.Conv])
		}
		lastSeq[en.Conv] = en.Seq
	}
	for _, m := range want {
		if _, ok := seen[m]; !ok {
			e.errorf("MISSING: %s (acked as %s) never delivered", m.cid, m.ack.ackString())
		}
	}
}

// checkHistories reads every conversation of every sender through a new
// connection and checks it holds exactly the messages sent in it, each once,
// numbered as acked, seq 1, 2, 3 ... without gaps.
func checkHistories(tb testing.TB, ctx context.Context, addr string, users []*sendUser) {
	tb.Helper()
	for _, u := range users {
		c, err := dialClient(ctx, addr, u.token, "audit")
		if err != nil {
			tb.Fatalf("%s: %v", u.user, err)
		}
		convs := make(map[string][]*outMsg)
		for _, m := range u.msgs {
			convs[m.conv()] = append(convs[m.conv()], m)
		}
		for _, conv := range slices.Sorted(maps.Keys(convs)) {
			hist, err := c.history(ctx, conv)
			if err != nil {
				tb.Fatalf("history %s: %v", conv, err)
			}
			checkHistory(tb, conv, hist, convs[conv])
		}
		c.close()
	}
}

func checkHistory(tb testing.TB, conv string, hist []wireEntry, want []*outMsg) {
	tb.Helper()
	e := &limitedErrors{tb: tb, what: "history " + conv}
	defer e.done()
	byBody := make(map[string]*outMsg, len(want))
	for _, m := range want {
		byBody[string(m.body)] = m
	}
	seen := make(map[*outMsg]uint64)
	for i, h := range hist {
		if h.Seq != uint64(i+1) {
			e.errorf("message %d has seq %d, want %d", i, h.Seq, i+1)
		}
		m := byBody[string(h.Body)]
		if m == nil {
			e.errorf("seq %d: a message nobody sent: %s", h.Seq, h.Body)
			continue
		}
		if s, ok := seen[m]; ok {
			e.errorf("DUPLICATE: %s stored at seq %d and %d", m.cid, s, h.Seq)
		}
		seen[m] = h.Seq
		if a := m.ack; a == nil || h.ID != a.MsgID || h.Seq != a.Seq {
			e.errorf("seq %d: %s stored as id %d seq %d, but acked as %s", h.Seq, m.cid, h.ID, h.Seq, a.ackString())
		}
		if h.CID != m.cid {
			e.errorf("seq %d: cid %q, want %q", h.Seq, h.CID, m.cid)
		}
	}
	for _, m := range want {
		if _, ok := seen[m]; !ok {
			if m.ack != nil {
				e.errorf("LOST ACKED MESSAGE: %s, acked in life %d as %s, is not in history", m.cid, m.ackLife, m.ack.ackString())
			} else {
				e.errorf("MISSING: %s never acked and not in history", m.cid)
			}
		}
	}
}
