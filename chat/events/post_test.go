package events

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Events handed to Post arrive like emitted ones, their data encoded, and
// types no endpoint wants are not even kept.
func TestPostDelivers(t *testing.T) {
	r := newReceiver(t, nil)
	q := start(t, Config{KV: newMemKV(), Endpoints: []Endpoint{{URL: r.URL, Secret: testSecret, Types: []string{"message.stored"}}}})
	when := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	q.Post("user.online", when, map[string]string{"user": "alice"})
	q.Post("message.stored", when, map[string]any{"conv": "d:alice:bob", "seq": 1})
	ev := r.nextEvents(t, 1)[0]
	var b struct {
		Type string
		Time string
		Data map[string]any
	}
	b.Type, b.Time = ev.Type, ev.Time
	if err := json.Unmarshal(ev.Data, &b.Data); err != nil {
		t.Fatal(err)
	}
	if b.Type != "message.stored" || b.Time != "2026-03-01T12:00:00.000Z" || b.Data["conv"] != "d:alice:bob" || b.Data["seq"] != 1.0 {
		t.Fatalf("got %+v", b)
	}
	waitStats(t, q, func(s Stats) bool { return s.Delivered == 1 })
	if s := q.Stats(); s != (Stats{Queued: 1, Delivered: 1}) {
		t.Fatalf("stats %+v", s)
	}
}

// Close writes what was posted before it to the KV, so the next Queue on
// the KV delivers it; what is posted after Close is counted as lost.
func TestCloseFlushesPosted(t *testing.T) {
	var got atomic.Int64 // the receiver only counts events: 3,000 may overflow newReceiver's log
	r := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		got.Add(int64(len(request{body: body}.events(t))))
	}))
	t.Cleanup(r.Close)
	kv := newMemKV()
	cfg := Config{KV: kv, Endpoints: []Endpoint{{URL: r.URL, Secret: testSecret}}}
	q, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 { // more than one flush batch
		q.Post("message.stored", time.Time{}, map[string]int{"seq": i})
	}
	q.Close(context.Background()) // never started: nothing flushed, all lost
	if s := q.Stats(); s.Lost != 3000 || kv.len() != 0 {
		t.Fatalf("closed unstarted queue: stats %+v, %d records", s, kv.len())
	}

	q2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	q2.Start()
	for i := range 3000 {
		q2.Post("message.stored", time.Time{}, map[string]int{"seq": i})
	}
	if err := q2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	q2.Post("message.stored", time.Time{}, map[string]int{"seq": -1})
	s := q2.Stats()
	if s.Lost != 1 || int(s.Queued) != 3000 || pendingEvents(t, kv) != 3000-int(s.Delivered) {
		t.Fatalf("stats %+v with %d events left", s, pendingEvents(t, kv))
	}
	q3 := start(t, cfg)
	waitStats(t, q3, func(st Stats) bool { return int(st.Delivered+s.Delivered) == 3000 })
	if got.Load() != 3000 {
		t.Fatalf("the receiver got %d events, want 3000", got.Load())
	}
}

// An event whose data cannot be encoded, or encodes as invalid JSON, is
// lost and counted; the others of its batch are delivered.
func TestPostBadDataIsCounted(t *testing.T) {
	r := newReceiver(t, nil)
	q := start(t, Config{KV: newMemKV(), Endpoints: []Endpoint{{URL: r.URL, Secret: testSecret}}})
	q.Post("message.stored", time.Time{}, func() {})
	q.Post("message.stored", time.Time{}, badMarshaler{})
	q.Post("message.stored", time.Time{}, 1)
	waitStats(t, q, func(s Stats) bool { return s.Delivered == 1 && s.Lost == 2 })
}

// badMarshaler encodes as invalid JSON.
type badMarshaler struct{}

func (badMarshaler) MarshalJSON() ([]byte, error) { return []byte(`{"a":`), nil }

// pendingEvents counts the events of the jobs queued in kv.
func pendingEvents(tb testing.TB, kv *memKV) int {
	tb.Helper()
	n := 0
	kv.Scan([]byte{recJob}, func(k, v []byte) error {
		j, err := decodeJob(k, v)
		if err != nil {
			tb.Fatal(err)
		}
		n += j.Events
		return nil
	})
	return n
}

// cpuTime is the CPU time this process has used.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// An empty queue waits: the bound a scan of an empty queue leaves once
// overflowed the dispatcher's wait, which a timer took as "now", and the
// dispatcher spun on a core until the first event.
func TestIdleQueueDoesNotSpin(t *testing.T) {
	r := newReceiver(t, nil)
	start(t, Config{KV: newMemKV(), Endpoints: []Endpoint{{URL: r.URL, Secret: testSecret}}})
	time.Sleep(scanPeriod + 200*time.Millisecond) // past the first scan and the wait it set
	before := cpuTime(t)
	time.Sleep(500 * time.Millisecond) // the span the process is watched over, not a test clock
	if used := cpuTime(t) - before; used > 250*time.Millisecond {
		t.Fatalf("an idle queue used %v of CPU in 500 ms", used)
	}
	if d := untilDue(math.MaxInt64, time.Now().UnixMilli()); d != scanPeriod {
		t.Fatalf("untilDue of an empty queue = %v, want %v", d, scanPeriod)
	}
}
