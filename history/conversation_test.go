package history

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestHistoryPaging(t *testing.T) {
	s, _ := newStore(t, Config{})
	sendMany(t, s, "alice", "bob", 12)
	conv := DirectConv("alice", "bob")
	tests := []struct {
		before   uint64
		limit    int
		wantSeqs []uint64
		wantMore bool
	}{
		{0, 5, []uint64{8, 9, 10, 11, 12}, true},
		{8, 5, []uint64{3, 4, 5, 6, 7}, true},
		{3, 5, []uint64{1, 2}, false},
		{1, 5, nil, false},
		{0, 12, seqs(1, 12), false},
		{0, 11, seqs(2, 12), true},
		{100, 0, seqs(1, 12), false}, // default limit 50
	}
	for _, tt := range tests {
		msgs, more, err := s.History("bob", conv, tt.before, tt.limit)
		if err != nil {
			t.Fatalf("History(before %d, limit %d): %v", tt.before, tt.limit, err)
		}
		var got []uint64
		for _, m := range msgs {
			got = append(got, m.Seq)
		}
		if !slices.Equal(got, tt.wantSeqs) || more != tt.wantMore {
			t.Errorf("History(before %d, limit %d) = %v, more %v; want %v, more %v",
				tt.before, tt.limit, got, more, tt.wantSeqs, tt.wantMore)
		}
	}
	for _, tt := range []struct{ user, conv string }{
		{"carol", conv},                        // not a member
		{"alice", DirectConv("alice", "dave")}, // no such conversation
	} {
		if _, _, err := s.History(tt.user, tt.conv, 0, 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("History(%s, %s): err = %v, want ErrNotFound", tt.user, tt.conv, err)
		}
	}
}

func seqs(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestConversations(t *testing.T) {
	clk := newClock()
	s, _ := newStore(t, Config{Now: clk.Now})
	ctx := context.Background()
	step := func(from, to string) Ack {
		t.Helper()
		clk.Advance(time.Second)
		return send(t, s, from, to, fmt.Sprint("c", clk.Now().Unix()), `{}`)
	}
	step("alice", "bob")
	step("bob", "alice")
	step("bob", "alice")
	step("alice", "alice")
	step("carol", "alice")
	if _, err := s.MarkRead(ctx, "alice", DirectConv("alice", "bob"), 2); err != nil {
		t.Fatal(err)
	}

	convs, err := s.Conversations("alice")
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		ID                               string
		Members                          string
		LastSeq, ReadSeq, Unread, PeerRd uint64
		LastFrom                         string
	}
	var got []summary
	for _, c := range convs {
		got = append(got, summary{c.ID, fmt.Sprint(c.Members), c.LastSeq, c.ReadSeq, c.Unread, c.PeerRead, c.Last.From})
	}
	want := []summary{
		{"d:alice:carol", "[alice carol]", 1, 0, 1, 1, "carol"},
		{"d:alice:alice", "[alice]", 1, 1, 0, 1, "alice"},
		// Alice marked 2 of 3 read; bob's own messages count as read.
		{"d:alice:bob", "[alice bob]", 3, 2, 1, 3, "bob"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Conversations(alice):\n got %+v\nwant %+v", got, want)
	}
	if convs, err := s.Conversations("nobody"); err != nil || len(convs) != 0 {
		t.Fatalf("Conversations(nobody) = %v, %v", convs, err)
	}
}

// Conversations whose messages retention deleted still list, last.
func TestConversationsAfterRetention(t *testing.T) {
	clk := newClock()
	s, _ := newStore(t, Config{Now: clk.Now, MaxAge: time.Hour})
	send(t, s, "alice", "bob", "c1", `{}`)
	clk.Advance(2 * time.Hour)
	send(t, s, "alice", "carol", "c2", `{}`)
	if err := s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	convs, err := s.Conversations("alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != 2 || convs[0].ID != "d:alice:carol" || convs[1].ID != "d:alice:bob" ||
		convs[1].Last != nil || convs[1].LastSeq != 1 {
		t.Fatalf("Conversations = %+v", convs)
	}
}

func TestMarkRead(t *testing.T) {
	s, _ := newStore(t, Config{})
	ctx := context.Background()
	conv := DirectConv("alice", "bob")
	sendMany(t, s, "alice", "bob", 5)
	tests := []struct {
		user     string
		conv     string
		seq      uint64
		want     ReadMark
		wantErr  error
		wantRead uint64 // bob's mark afterwards
	}{
		{"bob", conv, 2, ReadMark{Conv: conv, Seq: 2, Advanced: true, Members: []string{"alice", "bob"}}, nil, 2},
		{"bob", conv, 1, ReadMark{Conv: conv, Seq: 2, Members: []string{"alice", "bob"}}, nil, 2},
		{"bob", conv, 6, ReadMark{}, ErrInvalid, 2},
		{"carol", conv, 1, ReadMark{}, ErrNotFound, 2},
		{"bob", DirectConv("bob", "dave"), 0, ReadMark{}, ErrNotFound, 2},
		{"bob", conv, 5, ReadMark{Conv: conv, Seq: 5, Advanced: true, Members: []string{"alice", "bob"}}, nil, 5},
	}
	for i, tt := range tests {
		got, err := s.MarkRead(ctx, tt.user, tt.conv, tt.seq)
		if !errors.Is(err, tt.wantErr) || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Fatalf("%d: MarkRead(%s, %s, %d) = %+v, %v; want %+v, %v", i, tt.user, tt.conv, tt.seq, got, err, tt.want, tt.wantErr)
		}
		convs, err := s.Conversations("bob")
		if err != nil || len(convs) != 1 || convs[0].ReadSeq != tt.wantRead || convs[0].Unread != 5-tt.wantRead {
			t.Fatalf("%d: Conversations(bob) = %+v, %v; want read %d", i, convs, err, tt.wantRead)
		}
	}
	// Alice's own messages count as read.
	convs, err := s.Conversations("alice")
	if err != nil || convs[0].ReadSeq != 5 || convs[0].Unread != 0 || convs[0].PeerRead != 5 {
		t.Fatalf("Conversations(alice) = %+v, %v", convs, err)
	}
}

// A MarkRead in the same group commit as the conversation's first message
// sees it.
func TestMarkReadSameBatch(t *testing.T) {
	s, _ := newStore(t, Config{})
	done := make(chan error, 1)
	if err := s.Submit(context.Background(), msg("alice", "bob", "c1", `{}`), func(_ Ack, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	mark, err := s.MarkRead(context.Background(), "bob", DirectConv("alice", "bob"), 1)
	if err != nil || mark.Seq != 1 {
		t.Fatalf("MarkRead = %+v, %v", mark, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
