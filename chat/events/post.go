package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Hand-off limits of Post.
const (
	maxPosted = 1 << 16 // events waiting for the flusher; more are lost
	maxFlush  = 1024    // events one EmitAll writes
)

// posted is an event handed to Post, its Data not yet encoded.
type posted struct {
	typ  string
	at   time.Time
	data any
}

// Post hands an event to the Queue's flusher, which encodes data as JSON
// and Emits it in batches: it never blocks and never writes, so hooks that
// must not block (a store's commit hook, a presence change) can call it.
// The flusher emits whatever waits for it as soon as it can, up to 1,024
// events at a time: under load deliveries fill up (100 events), and an
// event posted when idle goes at once, alone.
// The price is a window: an event posted but not yet emitted is lost if
// the process dies, and so are events beyond 65,536 waiting (Stats.Lost
// counts both the overflow and what Close could not write). Data must not
// change after Post. An event no endpoint wants is ignored.
func (q *Queue) Post(typ string, at time.Time, data any) {
	if !q.Wants(typ) {
		return
	}
	q.postMu.Lock()
	if len(q.posted) >= maxPosted || q.postClosed {
		q.postMu.Unlock()
		q.lost.Add(1)
		q.logPostLoss("events: hand-off full or closed; event lost", typ)
		return
	}
	q.posted = append(q.posted, posted{typ: typ, at: at, data: data})
	q.postMu.Unlock()
	select {
	case q.postWake <- struct{}{}:
	default:
	}
}

// flush emits what Post handed off until ctx ends, then what is left.
func (q *Queue) flush(ctx context.Context) {
	for {
		select {
		case <-q.postWake:
			q.flushPosted()
		case <-ctx.Done():
			q.postMu.Lock()
			q.postClosed = true
			q.postMu.Unlock()
			q.flushPosted()
			return
		}
	}
}

// flushPosted emits every posted event, maxFlush per Apply.
func (q *Queue) flushPosted() {
	for {
		q.postMu.Lock()
		n := min(len(q.posted), maxFlush)
		batch := q.posted[:n:n]
		q.posted = q.posted[n:]
		if len(q.posted) == 0 {
			q.posted = nil // let the backing array go
		}
		q.postMu.Unlock()
		if n == 0 {
			return
		}
		evs := make([]Event, 0, n)
		for _, p := range batch {
			data, err := marshal(p.data)
			if err != nil {
				q.lost.Add(1)
				q.log.Error("events: encoding an event's data", logEvent, p.typ, logErr, err)
				continue
			}
			evs = append(evs, Event{Type: p.typ, Time: p.at, Data: data})
		}
		if err := q.emitAll(context.Background(), evs, true); err != nil {
			q.lost.Add(uint64(len(evs)))
			q.log.Error("events: queueing posted events; they are lost", "events", len(evs), logErr, err)
		}
	}
}

// logPostLoss logs a lost event at most once a minute per type.
func (q *Queue) logPostLoss(msg, typ string) {
	if suppressed, ok := q.logDue("post\x00" + typ); ok {
		q.log.Error(msg, logEvent, typ, logSuppressed, suppressed)
	}
}

// marshal is json.Marshal, but for a json.Marshaler whose output it only
// checks, not compacts into a copy (json.Marshal does both): message
// bodies make most of the bytes a busy server posts.
func marshal(v any) ([]byte, error) {
	m, ok := v.(json.Marshaler)
	if !ok {
		return json.Marshal(v)
	}
	data, err := m.MarshalJSON()
	if err == nil && !json.Valid(data) {
		err = fmt.Errorf("events: %T.MarshalJSON returned invalid JSON", v)
	}
	return data, err
}
