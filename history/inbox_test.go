package history

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestReadInboxPaging(t *testing.T) {
	s, _ := newStore(t, Config{})
	sendMany(t, s, "alice", "bob", 250)
	tests := []struct {
		after    uint64
		limit    int
		wantFrom uint64 // pts of the first entry
		wantLen  int
	}{
		{0, 10, 1, 10},
		{10, 10, 11, 10},
		{245, 10, 246, 5},
		{250, 10, 0, 0},
		{1000, 10, 0, 0},
		{0, 0, 1, defaultInboxLimit},
		{0, -5, 1, defaultInboxLimit},
		{0, 5000, 1, 250}, // capped at 1000; only 250 exist
	}
	for _, tt := range tests {
		got, err := s.ReadInbox("bob", tt.after, tt.limit)
		if err != nil {
			t.Fatalf("ReadInbox(after %d, limit %d): %v", tt.after, tt.limit, err)
		}
		if len(got) != tt.wantLen {
			t.Fatalf("ReadInbox(after %d, limit %d): %d entries, want %d", tt.after, tt.limit, len(got), tt.wantLen)
		}
		for i, e := range got {
			if e.Pts != tt.wantFrom+uint64(i) || e.Message == nil || e.Message.Seq != e.Pts {
				t.Fatalf("ReadInbox(after %d): entry %d = pts %d, message %+v", tt.after, i, e.Pts, e.Message)
			}
		}
	}
	if got, err := s.ReadInbox("nobody", 0, 0); err != nil || len(got) != 0 {
		t.Fatalf("unknown user: %v, %v", got, err)
	}
	if _, err := s.ReadInbox("a\x00b", 0, 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid user: err = %v, want ErrInvalid", err)
	}
}

func TestReadInboxReset(t *testing.T) {
	s, _ := newStore(t, Config{MaxPerConversation: 5})
	sendMany(t, s, "alice", "bob", 10)
	send(t, s, "carol", "bob", "c1", `{}`) // bob's pts 11, in another conversation
	if err := s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		after     uint64
		wantReset bool
		wantPts   []uint64
	}{
		{0, true, nil},
		{4, true, nil},
		{5, false, []uint64{6, 7, 8, 9, 10, 11}},
		{9, false, []uint64{10, 11}},
	} {
		got, err := s.ReadInbox("bob", tt.after, 0)
		var reset *ResetError
		if tt.wantReset {
			if !errors.As(err, &reset) || reset.Floor != 6 {
				t.Fatalf("ReadInbox(after %d): err = %v, want ResetError{6}", tt.after, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ReadInbox(after %d): %v", tt.after, err)
		}
		var pts []uint64
		for _, e := range got {
			pts = append(pts, e.Pts)
		}
		if !slices.Equal(pts, tt.wantPts) {
			t.Fatalf("ReadInbox(after %d) = %v, want %v", tt.after, pts, tt.wantPts)
		}
	}
	// Alice's inbox lost the same messages.
	if _, err := s.ReadInbox("alice", 0, 0); !errors.As(err, new(*ResetError)) {
		t.Fatalf("alice: err = %v, want ResetError", err)
	}
}

func TestSetCursor(t *testing.T) {
	s, _ := newStore(t, Config{})
	ctx := context.Background()
	sendMany(t, s, "alice", "bob", 5)
	tests := []struct {
		pts     uint64
		want    uint64
		wantErr error
	}{
		{0, 0, nil},
		{3, 3, nil},
		{2, 3, nil}, // never backwards
		{5, 5, nil},
		{6, 0, ErrInvalid}, // beyond the head
	}
	for _, tt := range tests {
		got, err := s.SetCursor(ctx, "bob", "phone", tt.pts)
		if !errors.Is(err, tt.wantErr) || got != tt.want {
			t.Fatalf("SetCursor(%d) = %d, %v; want %d, %v", tt.pts, got, err, tt.want, tt.wantErr)
		}
	}
	if got, err := s.Cursor("bob", "phone"); err != nil || got != 5 {
		t.Fatalf("Cursor = %d, %v; want 5", got, err)
	}
	if got, err := s.Cursor("bob", "laptop"); err != nil || got != 0 {
		t.Fatalf("Cursor of another device = %d, %v; want 0", got, err)
	}
	if _, err := s.SetCursor(ctx, "nobody", "phone", 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("cursor of an empty inbox: err = %v, want ErrInvalid", err)
	}
}
