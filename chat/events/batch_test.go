package events

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// Many events emitted at once arrive in few requests of at most 100
// events each, in order, none lost and none twice; each endpoint gets
// only the types it wants, batched on its own.
func TestEmitAllBatches(t *testing.T) {
	all := newReceiver(t, nil)
	kicks := newReceiver(t, nil)
	q := start(t, Config{KV: newMemKV(), Endpoints: []Endpoint{
		{URL: all.URL, Secret: testSecret},
		{URL: kicks.URL, Secret: testSecret, Types: []string{"device.kicked"}},
	}})
	const n = 1000
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = Event{Type: "message.stored", Data: json.RawMessage(fmt.Sprintf(`{"seq":%d}`, i))}
		if i%10 == 0 {
			evs[i].Type = "device.kicked"
		}
	}
	if err := q.EmitAll(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		r    *receiver
		want int
	}{{all, n}, {kicks, n / 10}} {
		seen := map[string]bool{}
		requests := 0
		for len(seen) < tc.want {
			req := tc.r.next(t)
			requests++
			got := req.events(t)
			if len(got) > maxBatch {
				t.Errorf("a request of %d events", len(got))
			}
			prev := -1
			for _, ev := range got {
				if seen[ev.ID] {
					t.Fatalf("event %s twice", ev.ID)
				}
				seen[ev.ID] = true
				var d struct{ Seq int }
				json.Unmarshal(ev.Data, &d)
				if d.Seq <= prev { // batches go in parallel, each in order
					t.Errorf("a batch is out of order: %d after %d", d.Seq, prev)
				}
				prev = d.Seq
			}
		}
		if len(seen) != tc.want || requests != (tc.want+maxBatch-1)/maxBatch {
			t.Errorf("%d events in %d requests, want %d in %d", len(seen), requests, tc.want, (tc.want+maxBatch-1)/maxBatch)
		}
		tc.r.none(t, 20*time.Millisecond)
	}
	s := waitStats(t, q, func(s Stats) bool { return s.Delivered == n+n/10 })
	if s != (Stats{Queued: n + n/10, Delivered: n + n/10}) {
		t.Errorf("stats %+v", s)
	}
}

// A batch holds about 256 KiB at most; a larger event goes alone.
func TestBatchBodyLimit(t *testing.T) {
	r := newReceiver(t, nil)
	q := start(t, Config{KV: newMemKV(), Endpoints: []Endpoint{{URL: r.URL, Secret: testSecret}}})
	big := json.RawMessage(`"` + strings.Repeat("x", 100<<10) + `"`)
	huge := json.RawMessage(`"` + strings.Repeat("y", 300<<10) + `"`)
	evs := []Event{{Type: "a", Data: big}, {Type: "a", Data: big}, {Type: "a", Data: big}, {Type: "a", Data: huge}, {Type: "a", Data: big}}
	if err := q.EmitAll(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for total := 0; total < len(evs); {
		req := r.next(t)
		got := req.events(t)
		total += len(got)
		sizes = append(sizes, len(got))
		if len(got) > 1 && len(req.body) > maxBatchBytes {
			t.Errorf("a body of %d bytes holds %d events", len(req.body), len(got))
		}
	}
	slices.Sort(sizes) // the batches go in parallel
	if want := []int{1, 1, 1, 2}; fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Errorf("batches of %v events, want %v", sizes, want)
	}
}

// Events Posted in a burst are flushed in large batches; one Posted alone
// goes at once, alone.
func TestPostBatchesUnderLoadNotWhenIdle(t *testing.T) {
	r := newReceiver(t, nil)
	q, err := New(Config{KV: newMemKV(), Endpoints: []Endpoint{{URL: r.URL, Secret: testSecret}}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close(context.Background()) })
	const n = 2000
	for i := range n { // before Start: a backlog, as under load
		q.Post("message.stored", time.Time{}, map[string]int{"seq": i})
	}
	q.Start()
	seen := map[string]bool{}
	requests := 0
	for len(seen) < n {
		for _, ev := range r.next(t).events(t) {
			if seen[ev.ID] {
				t.Fatalf("event %s twice", ev.ID)
			}
			seen[ev.ID] = true
		}
		requests++
	}
	if requests > 2*n/maxBatch {
		t.Errorf("%d events in %d requests", n, requests)
	}
	waitStats(t, q, func(s Stats) bool { return s.Delivered == n })
	start := time.Now()
	q.Post("user.online", time.Time{}, map[string]string{"user": "alice"})
	if got := r.next(t).events(t); len(got) != 1 || got[0].Type != "user.online" {
		t.Errorf("got %+v", got)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("an idle event took %v", d)
	}
}

// A job retried (so moved later than the dispatcher's bound), then the
// Queue closed and another started on the KV, is still delivered, as
// are the events emitted meanwhile; and a job left due long ago, behind
// many deleted ones, is found.
func TestRetriedAndRestartedIsDelivered(t *testing.T) {
	fail := make(chan bool, 2)
	fail <- true
	fail <- true
	r := newReceiver(t, func(_ int, w http.ResponseWriter) {
		select {
		case <-fail:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	other := newReceiver(t, nil)
	kv := newMemKV()
	cfg := Config{KV: kv, Logger: quietLogger(), Endpoints: []Endpoint{
		{URL: r.URL, Secret: testSecret, Types: []string{"retried"}},
		{URL: other.URL, Secret: testSecret, Types: []string{"a"}},
	}}
	q1 := start(t, cfg)
	if err := q1.Emit(context.Background(), Event{ID: "retried", Type: "retried"}); err != nil {
		t.Fatal(err)
	}
	r.next(t)
	waitStats(t, q1, func(s Stats) bool { return s.Retried == 1 })
	for i := range 3 { // delivered while the retry waits: the bound passes them
		if err := q1.Emit(context.Background(), Event{ID: fmt.Sprint("later", i), Type: "a"}); err != nil {
			t.Fatal(err)
		}
		other.next(t)
	}
	waitStats(t, q1, func(s Stats) bool { return s.Delivered == 3 })
	// The retry is due after the jobs delivered since: it is tried again
	// (and fails again).
	if got := r.next(t).events(t); got[0].ID != "retried" {
		t.Fatalf("got %+v", got)
	}
	waitStats(t, q1, func(s Stats) bool { return s.Retried == 2 })
	if err := q1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := kv.len(); n != 1 {
		t.Fatalf("%d jobs queued, want the retry", n)
	}

	q2 := start(t, cfg)
	if got := r.next(t).events(t); got[0].ID != "retried" {
		t.Fatalf("got %+v", got)
	}
	waitStats(t, q2, func(s Stats) bool { return s.Delivered == 1 })
	// The bound is now past the queue's deleted jobs; a job written
	// behind it by another Queue with a slow clock is found by the next
	// full scan, which a Queue also makes at its start.
	old, err := New(Config{KV: kv, Endpoints: cfg.Endpoints, Now: func() time.Time { return time.Now().Add(-3 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Emit(context.Background(), Event{ID: "old", Type: "a"}); err != nil {
		t.Fatal(err)
	}
	old.Close(context.Background())
	q2.Close(context.Background())
	q3 := start(t, cfg)
	if got := other.next(t).events(t); got[0].ID != "old" {
		t.Fatalf("got %+v", got)
	}
	waitStats(t, q3, func(s Stats) bool { return s.Delivered == 1 })
	r.none(t, 20*time.Millisecond)
}

// scanKV is a memKV that records the prefixes scanned.
type scanKV struct {
	*memKV
	prefixes [][]byte
}

func (kv *scanKV) Scan(prefix []byte, fn func(k, v []byte) error) error {
	kv.prefixes = append(kv.prefixes, bytes.Clone(prefix))
	return kv.memKV.Scan(prefix, fn)
}

// scanFrom reads every job from its start through the 256 ms block of its
// end, in order, never a block before its start, with few scans.
func TestScanFrom(t *testing.T) {
	const hour = int64(time.Hour / time.Millisecond)
	base := int64(1_772_366_400_000) // 2026-03-01, not aligned
	dues := []int64{base - 300, base - 1, base, base + 1, base + 255, base + 256, base + 70_000, base + hour, base + 5*hour, base + 30*hour, base + 30*hour + 300}
	for _, tc := range []struct {
		name        string
		from, until int64
		maxScans    int
	}{
		{"one block", base, base + 10, 2},
		{"a minute", base, base + 60_000, 300},
		{"an hour", base, base + hour, 600},
		{"a day and more", base - 1, base + 30*hour, 1600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := &scanKV{memKV: newMemKV()}
			for i, d := range dues {
				kv.m[string(jobKey(d, fmt.Sprint("id", i), "http://x/"))] = []byte{jobVersion}
			}
			var got []int64
			end, err := scanFrom(kv, tc.from, tc.until, func(k, _ []byte) error {
				got = append(got, int64(binary.BigEndian.Uint64(k[1:9])))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var want []int64
			for _, d := range dues {
				if d >= tc.from && d < end {
					want = append(want, d)
				}
			}
			// Jobs before from in its block may be read; none before it.
			for len(got) > 0 && got[0] < tc.from && got[0] >= tc.from&^255 {
				got = got[1:]
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("read %v, want %v", got, want)
			}
			if end <= tc.until || end > tc.until+256 {
				t.Errorf("end %d, until %d", end, tc.until)
			}
			if len(kv.prefixes) > tc.maxScans {
				t.Errorf("%d scans", len(kv.prefixes))
			}
			for _, p := range kv.prefixes {
				var b [8]byte
				copy(b[:], p[1:])
				if lo := int64(binary.BigEndian.Uint64(b[:])); lo < tc.from&^255 {
					t.Errorf("a scan from %d, before %d's block", lo, tc.from)
				}
			}
		})
	}
}

func TestJobRecord(t *testing.T) {
	j := job{ID: "d1", URL: "https://x.example/hook", Due: 1772366400123, Deadline: 1772452800123, Attempts: 3, Events: 2, Body: []byte(`{"events":[1,2]}`)}
	got, err := decodeJob(j.key(), j.value())
	if err != nil || fmt.Sprint(got) != fmt.Sprint(j) {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	for name, kv := range map[string][2][]byte{
		"short key":   {[]byte("j1234"), j.value()},
		"no url":      {jobKey(1, "d1", "")[:11], j.value()},
		"old version": {j.key(), append([]byte{0}, j.value()[1:]...)},
		"truncated":   {j.key(), j.value()[:2]},
		"no events":   {j.key(), (&job{}).value()},
	} {
		if _, err := decodeJob(kv[0], kv[1]); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}
