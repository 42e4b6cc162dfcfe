package history

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestAppendValidation(t *testing.T) {
	s, _ := newStore(t, Config{})
	ok := msg("alice", "bob", "c1", `{}`)
	tests := []struct {
		name   string
		change func(*AppendRequest)
	}{
		{"empty from", func(r *AppendRequest) { r.From = "" }},
		{"empty to", func(r *AppendRequest) { r.To = "" }},
		{"empty device", func(r *AppendRequest) { r.Device = "" }},
		{"empty cid", func(r *AppendRequest) { r.ClientID = "" }},
		{"empty body", func(r *AppendRequest) { r.Body = nil }},
		{"nul in from", func(r *AppendRequest) { r.From = "al\x00ice" }},
		{"nul in to", func(r *AppendRequest) { r.To = "bob\x00" }},
		{"nul in device", func(r *AppendRequest) { r.Device = "\x00" }},
		{"nul in cid", func(r *AppendRequest) { r.ClientID = "c\x001" }},
		{"colon in from", func(r *AppendRequest) { r.From = "a:b" }},
		{"colon in to", func(r *AppendRequest) { r.To = "b:c" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := ok
			tt.change(&req)
			if _, err := s.Append(context.Background(), req); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	if head, _ := s.InboxHead("bob"); head != 0 {
		t.Fatalf("an invalid message was stored: head %d", head)
	}
}

func TestAppendNumbering(t *testing.T) {
	clk := newClock()
	s, _ := newStore(t, Config{Now: clk.Now})
	ab := DirectConv("alice", "bob")
	tests := []struct {
		from, to string
		back     bool // move the clock back before sending
		want     Ack
	}{
		{"alice", "bob", false, Ack{ID: 1, Conv: ab, Seq: 1, Pts: 1}},
		{"bob", "alice", false, Ack{ID: 2, Conv: ab, Seq: 2, Pts: 2}},
		{"alice", "alice", true, Ack{ID: 3, Conv: "d:alice:alice", Seq: 1, Pts: 3}},
		{"carol", "bob", false, Ack{ID: 4, Conv: "d:bob:carol", Seq: 1, Pts: 1}},
		{"alice", "bob", false, Ack{ID: 5, Conv: ab, Seq: 3, Pts: 4}},
	}
	var lastTime int64
	for i, tt := range tests {
		if tt.back {
			clk.Advance(-time.Hour)
		} else {
			clk.Advance(time.Second)
		}
		got := send(t, s, tt.from, tt.to, fmt.Sprint("c", i), `{"i":1}`)
		if got.Time < lastTime {
			t.Errorf("message %d: time went back: %d < %d", i, got.Time, lastTime)
		}
		lastTime = got.Time
		got.Time = 0
		if got != tt.want {
			t.Errorf("message %d: ack = %+v, want %+v", i, got, tt.want)
		}
	}
	for user, want := range map[string]uint64{"alice": 4, "bob": 4, "carol": 1} {
		if head, err := s.InboxHead(user); err != nil || head != want {
			t.Errorf("InboxHead(%s) = %d, %v; want %d", user, head, err, want)
		}
	}
	// A note to self appends one inbox entry.
	entries := readAll(t, s, "alice", 2)
	if len(entries) != 2 || entries[0].Message.Conv != "d:alice:alice" || entries[1].Message.Seq != 3 {
		t.Fatalf("alice's inbox after 2: %+v", entries)
	}
	if m := entries[0].Message; m.From != "alice" || m.Device != "phone" || m.ClientID != "c2" || string(m.Body) != `{"i":1}` {
		t.Fatalf("stored message = %+v", m)
	}
}

// Many concurrent senders: every conversation's seqs and every inbox's pts
// are 1..N without gaps, and OnCommit sees every inbox in order.
func TestConcurrentAppends(t *testing.T) {
	users := []string{"u0", "u1", "u2", "u3", "u4", "u5"}
	const senders, perSender = 48, 40

	var mu sync.Mutex
	seen := make(map[string][]uint64) // user -> pts in OnCommit order
	var committed []*Message
	cfg := Config{MaxBatch: 64, OnCommit: func(batch []Appended) {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range batch {
			committed = append(committed, a.Message)
			for _, r := range a.Inbox {
				seen[r.User] = append(seen[r.User], r.Pts)
			}
		}
	}}
	s, _ := newStore(t, cfg)

	acks := make([][]Ack, senders)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			from := users[g%len(users)]
			for i := range perSender {
				req := AppendRequest{From: from, Device: fmt.Sprint("dev", g), ClientID: fmt.Sprint("c", i),
					To: users[(g+i)%len(users)], Body: []byte(`{}`)}
				ack, err := s.Append(context.Background(), req)
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				acks[g] = append(acks[g], ack)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	perConv := make(map[string][]uint64)
	perUser := make(map[string]int)
	ids := make(map[uint64]bool)
	for g, list := range acks {
		from := users[g%len(users)]
		for i, a := range list {
			if ids[a.ID] {
				t.Fatalf("id %d assigned twice", a.ID)
			}
			ids[a.ID] = true
			perConv[a.Conv] = append(perConv[a.Conv], a.Seq)
			perUser[from]++
			if to := users[(g+i)%len(users)]; to != from {
				perUser[to]++
			}
		}
	}
	if len(ids) != senders*perSender || len(committed) != senders*perSender {
		t.Fatalf("%d ids, %d committed; want %d", len(ids), len(committed), senders*perSender)
	}
	for conv, seqs := range perConv {
		slices.Sort(seqs)
		assertGapless(t, "acks of "+conv, seqs)
		members, _ := directMembers(conv)
		var stored []uint64
		for _, m := range historyAll(t, s, members[0], conv) {
			stored = append(stored, m.Seq)
		}
		if !slices.Equal(stored, seqs) {
			t.Fatalf("history of %s: %v, acks %v", conv, stored, seqs)
		}
	}
	for _, u := range users {
		var pts []uint64
		for _, e := range readAll(t, s, u, 0) {
			pts = append(pts, e.Pts)
		}
		if len(pts) != perUser[u] {
			t.Fatalf("inbox of %s has %d entries, want %d", u, len(pts), perUser[u])
		}
		assertGapless(t, "inbox of "+u, pts)
		assertGapless(t, "OnCommit of "+u, seen[u]) // in delivery order
	}
	// Ids follow commit order and times never decrease.
	for i := 1; i < len(committed); i++ {
		if committed[i].ID != committed[i-1].ID+1 || committed[i].Time < committed[i-1].Time {
			t.Fatalf("commit %d: id %d time %d after id %d time %d", i,
				committed[i].ID, committed[i].Time, committed[i-1].ID, committed[i-1].Time)
		}
	}
}

// assertGapless checks that got is 1, 2, ..., len(got).
func assertGapless(tb testing.TB, what string, got []uint64) {
	tb.Helper()
	for i, v := range got {
		if v != uint64(i+1) {
			tb.Fatalf("%s: position %d holds %d: %v", what, i, v, got)
		}
	}
}

func TestDedup(t *testing.T) {
	dir := t.TempDir()
	var commits int
	cfg := Config{OnCommit: func([]Appended) { commits++ }}
	s := openStore(t, dir, cfg)
	first := send(t, s, "alice", "bob", "c1", `{"text":"hi"}`)

	again := send(t, s, "alice", "bob", "c1", `{"text":"hi"}`)
	if !again.Duplicate {
		t.Fatal("retry not reported as duplicate")
	}
	again.Duplicate = false
	if again != first {
		t.Fatalf("retry ack = %+v, want %+v", again, first)
	}
	if commits != 1 {
		t.Fatalf("OnCommit called %d times, want 1", commits)
	}
	for _, tt := range []struct{ name, to, body string }{
		{"other body", "bob", `{"text":"ho"}`},
		{"other recipient", "carol", `{"text":"hi"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Append(context.Background(), msg("alice", tt.to, "c1", tt.body)); !errors.Is(err, ErrConflict) {
				t.Fatalf("err = %v, want ErrConflict", err)
			}
		})
	}
	// The client id is per device.
	other := msg("alice", "bob", "c1", `{"text":"hi"}`)
	other.Device = "laptop"
	if a, err := s.Append(context.Background(), other); err != nil || a.Duplicate || a.Seq != 2 {
		t.Fatalf("same cid from another device: %+v, %v", a, err)
	}

	// Still remembered after a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, Config{})
	again = send(t, s, "alice", "bob", "c1", `{"text":"hi"}`)
	again.Duplicate = false
	if again != first {
		t.Fatalf("retry after restart = %+v, want %+v", again, first)
	}
	if head, _ := s.InboxHead("bob"); head != 2 {
		t.Fatalf("bob's head = %d, want 2", head)
	}
}

// A retry in the same group commit as the original is a duplicate too.
func TestDedupSameBatch(t *testing.T) {
	s, _ := newStore(t, Config{})
	type result struct {
		ack Ack
		err error
	}
	results := make(chan result, 2)
	for range 2 {
		err := s.Submit(context.Background(), msg("alice", "bob", "c1", `{}`), func(a Ack, err error) {
			results <- result{a, err}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	r1, r2 := <-results, <-results
	if r1.err != nil || r2.err != nil || r1.ack.Duplicate || !r2.ack.Duplicate || r1.ack.ID != r2.ack.ID {
		t.Fatalf("results %+v, %+v", r1, r2)
	}
	if head, _ := s.InboxHead("bob"); head != 1 {
		t.Fatalf("head = %d, want 1", head)
	}
}

func TestCountersSurviveRetention(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	cfg := Config{MaxAge: time.Hour, Now: clk.Now}
	s := openStore(t, dir, cfg)
	for i := range 3 {
		send(t, s, "alice", "bob", fmt.Sprint("c", i), `{}`)
	}
	clk.Advance(2 * time.Hour)
	if err := s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, kindMessage); n != 0 {
		t.Fatalf("%d messages left after retention", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, cfg)
	got := send(t, s, "bob", "alice", "c9", `{}`)
	if got.ID != 4 || got.Seq != 4 || got.Pts != 4 {
		t.Fatalf("after retention and restart: ack %+v, want id, seq and pts 4", got)
	}
}
