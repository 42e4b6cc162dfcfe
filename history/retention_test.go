package history

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestSweepCount(t *testing.T) {
	tests := []struct {
		keep, sent int
		wantFirst  uint64 // first seq left
	}{
		{keep: 0, sent: 10, wantFirst: 1}, // no limit
		{keep: 3, sent: 10, wantFirst: 8},
		{keep: 10, sent: 10, wantFirst: 1},
		{keep: 1, sent: 2500, wantFirst: 2500}, // several sweeper batches
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("keep %d of %d", tt.keep, tt.sent), func(t *testing.T) {
			s, _ := newStore(t, Config{MaxPerConversation: tt.keep})
			sendMany(t, s, "alice", "bob", tt.sent)
			send(t, s, "carol", "carol", "c1", `{}`) // a conversation under the limit
			// A second pass finds nothing more to do.
			for range 2 {
				if err := s.Sweep(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			msgs := historyAll(t, s, "bob", DirectConv("alice", "bob"))
			if len(msgs) == 0 || msgs[0].Seq != tt.wantFirst || msgs[len(msgs)-1].Seq != uint64(tt.sent) {
				t.Fatalf("%d messages left, first %+v", len(msgs), msgs)
			}
			entries, err := s.ReadInbox("bob", tt.wantFirst-1, 0)
			if err != nil || entries[0].Pts != tt.wantFirst {
				t.Fatalf("ReadInbox from the floor: %v", err)
			}
			if tt.wantFirst > 1 {
				if n := countKeys(t, s, kindInbox); n != 2*(tt.sent-int(tt.wantFirst)+1)+1 {
					t.Fatalf("%d inbox entries left", n)
				}
			}
			if msgs := historyAll(t, s, "carol", "d:carol:carol"); len(msgs) != 1 {
				t.Fatalf("carol's note: %d messages", len(msgs))
			}
		})
	}
}

func TestSweepAge(t *testing.T) {
	clk := newClock()
	s, _ := newStore(t, Config{MaxAge: time.Hour, Now: clk.Now})
	ctx := context.Background()
	for i := range 3 {
		send(t, s, "alice", "bob", fmt.Sprint("old", i), `{}`)
		clk.Advance(time.Minute)
	}
	clk.Advance(30 * time.Minute)
	for i := range 2 {
		send(t, s, "bob", "alice", fmt.Sprint("new", i), `{}`)
	}
	send(t, s, "carol", "bob", "c1", `{}`)

	// Nothing is old enough yet.
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, kindMessage); n != 6 {
		t.Fatalf("%d messages after an early sweep, want 6", n)
	}

	// The old messages pass MaxAge; the last one is exactly at the limit.
	clk.Advance(30*time.Minute - time.Minute)
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := historyAll(t, s, "alice", DirectConv("alice", "bob"))
	if len(msgs) != 3 || msgs[0].Seq != 3 {
		t.Fatalf("after sweep: %+v", msgs)
	}
	var reset *ResetError
	if _, err := s.ReadInbox("bob", 0, 0); !errors.As(err, &reset) || reset.Floor != 3 {
		t.Fatalf("ReadInbox(bob, 0): err = %v, want ResetError{3}", err)
	}
	if entries := readAll(t, s, "bob", 2); len(entries) != 4 {
		t.Fatalf("bob's inbox from the floor: %d entries", len(entries))
	}
}

func TestDedupExpiry(t *testing.T) {
	clk := newClock()
	s, _ := newStore(t, Config{Now: clk.Now})
	ctx := context.Background()
	first := send(t, s, "alice", "bob", "c1", `{}`)
	send(t, s, "alice", "bob", "c2", `{}`)

	clk.Advance(minDedupWindow)
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if a := send(t, s, "alice", "bob", "c1", `{}`); !a.Duplicate || a.ID != first.ID {
		t.Fatalf("within the window: %+v", a)
	}

	clk.Advance(time.Millisecond)
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n, x := countKeys(t, s, kindDedup), countKeys(t, s, kindExpiry); n != 0 || x != 0 {
		t.Fatalf("%d dedup records and %d expiry keys left", n, x)
	}
	a := send(t, s, "alice", "bob", "c1", `{"other":"body"}`)
	if a.Duplicate || a.Seq != 3 {
		t.Fatalf("after expiry: %+v, want a new message", a)
	}
	if n, x := countKeys(t, s, kindDedup), countKeys(t, s, kindExpiry); n != 1 || x != 1 {
		t.Fatalf("%d dedup records and %d expiry keys, want 1 and 1", n, x)
	}
}

func TestSweepCancelled(t *testing.T) {
	s, _ := newStore(t, Config{MaxPerConversation: 1})
	sendMany(t, s, "alice", "bob", 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Sweep(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
