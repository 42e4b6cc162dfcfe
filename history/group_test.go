package history

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func groupReq(from, cid, conv string, users ...string) GroupRequest {
	return GroupRequest{From: from, Device: "phone", ClientID: cid, Conv: conv, Users: users}
}

func mustGroup(tb testing.TB) func(Ack, error) Ack {
	return func(ack Ack, err error) Ack {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return ack
	}
}

func sendGroup(tb testing.TB, s *Store, from, conv, cid, body string) Ack {
	tb.Helper()
	ack, err := s.Append(context.Background(), AppendRequest{From: from, Device: "phone", ClientID: cid, Conv: conv, Body: []byte(body)})
	if err != nil {
		tb.Fatalf("send %s to %s: %v", from, conv, err)
	}
	return ack
}

func TestGroupLifecycle(t *testing.T) {
	s, _ := newStore(t, Config{})
	ctx := context.Background()
	req := groupReq("alice", "c1", "", "bob", "carol")
	req.Name = "trip"
	created := mustGroup(t)(s.CreateGroup(ctx, req))
	conv := created.Conv
	g, err := s.Group(conv)
	if err != nil || g.Len() != 3 || g.Owner() != "alice" || g.Name != "trip" {
		t.Fatalf("group = %+v, %v", g, err)
	}
	// A retry with the same cid is the same group.
	again, err := s.CreateGroup(ctx, req)
	if err != nil || again.Conv != conv || !again.Duplicate {
		t.Fatalf("retry = %+v, %v", again, err)
	}

	m1 := sendGroup(t, s, "bob", conv, "b1", `{"text":"hi"}`)
	// Members can't manage; non-members can't send.
	if _, err := s.AddMembers(ctx, groupReq("bob", "b2", conv, "dave")); !errors.Is(err, ErrForbidden) {
		t.Fatalf("member adds: %v", err)
	}
	if _, err := s.Append(ctx, AppendRequest{From: "dave", Device: "p", ClientID: "d1", Conv: conv, Body: []byte(`{}`)}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("non-member sends: %v", err)
	}
	added := mustGroup(t)(s.AddMembers(ctx, groupReq("alice", "c2", conv, "dave")))
	removed := mustGroup(t)(s.RemoveMembers(ctx, groupReq("alice", "c3", conv, "carol")))
	m2 := sendGroup(t, s, "bob", conv, "b3", `{"text":"after"}`)

	// Every member's inbox has what it may see, in order.
	kinds := func(user string) []string {
		var out []string
		for _, e := range readAll(t, s, user, 0) {
			out = append(out, fmt.Sprintf("%d:%s", e.Message.Seq, e.Message.Kind))
		}
		return out
	}
	if got := fmt.Sprint(kinds("carol")); got != "[1:event 2: 3:event 4:event]" {
		t.Fatalf("carol's inbox = %s (added %d removed %d)", got, added.Seq, removed.Seq)
	}
	if got := fmt.Sprint(kinds("dave")); got != "[3:event 4:event 5:]" {
		t.Fatalf("dave's inbox = %s", got)
	}
	if got := fmt.Sprint(kinds("alice")); got != "[1:event 2: 3:event 4:event 5:]" {
		t.Fatalf("alice's inbox = %s", got)
	}
	// Carol keeps what she had and reads nothing after her removal.
	hist := historyAll(t, s, "carol", conv)
	if len(hist) != 4 || hist[len(hist)-1].Seq != removed.Seq {
		t.Fatalf("carol's history = %+v", hist)
	}
	if _, err := s.Append(ctx, AppendRequest{From: "carol", Device: "phone", ClientID: "x", Conv: conv, Body: []byte(`{}`)}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("removed member sends: %v", err)
	}
	// Dave reads from his addition on.
	if hist := historyAll(t, s, "dave", conv); len(hist) != 3 || hist[0].Seq != added.Seq {
		t.Fatalf("dave's history = %+v", hist)
	}
	convs, err := s.Conversations("carol")
	if err != nil || len(convs) != 1 || !convs[0].Left || convs[0].LastSeq != removed.Seq {
		t.Fatalf("carol's conversations = %+v, %v", convs, err)
	}
	_ = m1
	_ = m2

	// Receipts: bob's message m2 is read by dave only.
	if _, err := s.MarkRead(ctx, "dave", conv, m2.Seq); err != nil {
		t.Fatal(err)
	}
	r, err := s.Receipts("alice", conv, m2.Seq)
	if err != nil || r.Members != 2 || r.Read != 1 || fmt.Sprint(r.Readers) != "[dave]" {
		t.Fatalf("receipts = %+v, %v", r, err)
	}
	if _, err := s.MarkRead(ctx, "alice", conv, m2.Seq); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Receipts("alice", conv, m2.Seq); r.Read != 2 {
		t.Fatalf("receipts after alice read = %+v", r)
	}

	// The owner leaves: the first member to join (bob) owns it.
	mustGroup(t)(s.LeaveGroup(ctx, groupReq("alice", "c4", conv)))
	if g, _ := s.Group(conv); g.Owner() != "bob" || g.Len() != 2 {
		t.Fatalf("after the owner left: owner %q, %d members", g.Owner(), g.Len())
	}
	// A restart reads the same group back.
	if groups, err := s.Groups("bob"); err != nil || len(groups) != 1 || groups[0].Role != RoleOwner {
		t.Fatalf("bob's groups = %+v, %v", groups, err)
	}
}

func TestGroupSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	req := groupReq("alice", "c1", "g:fixed", "bob")
	req.Name = "x"
	mustGroup(t)(s.CreateGroup(context.Background(), req))
	sendGroup(t, s, "bob", "g:fixed", "b1", `{}`)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, Config{})
	g, err := s.Group("g:fixed")
	if err != nil || g.Len() != 2 || g.Owner() != "alice" {
		t.Fatalf("group after restart = %+v, %v", g, err)
	}
	if ack := sendGroup(t, s, "alice", "g:fixed", "a1", `{}`); ack.Seq != 3 {
		t.Fatalf("seq after restart = %d, want 3", ack.Seq)
	}
}

func TestLargeGroupReadFanout(t *testing.T) {
	s, _ := newStore(t, Config{FanoutLimit: 3})
	ctx := context.Background()
	req := groupReq("alice", "c1", "g:big", "bob", "carol", "dave")
	req.Name = "big"
	mustGroup(t)(s.CreateGroup(ctx, req))
	_, mark, err := s.GroupsMoved("dave", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		sendGroup(t, s, "alice", "g:big", fmt.Sprint("m", i), `{}`)
	}
	// No inbox entries: the log only.
	if got := readAll(t, s, "dave", 0); len(got) != 0 {
		t.Fatalf("dave's inbox has %d entries", len(got))
	}
	moved, upTo, err := s.GroupsMoved("dave", mark)
	if err != nil || len(moved) != 1 || moved[0] != (GroupSeq{Conv: "g:big", Seq: 6}) {
		t.Fatalf("moved = %+v, %v", moved, err)
	}
	// Nothing moved since upTo; a user in no large group sees none.
	if moved, _, _ := s.GroupsMoved("dave", upTo); len(moved) != 0 {
		t.Fatalf("moved again = %+v", moved)
	}
	if moved, _, _ := s.GroupsMoved("zed", 0); len(moved) != 0 {
		t.Fatalf("a non-member sees %+v", moved)
	}
	msgs, more, err := s.HistoryAfter("dave", "g:big", 3, 2)
	if err != nil || len(msgs) != 2 || msgs[0].Seq != 4 || !more {
		t.Fatalf("HistoryAfter = %+v more %v, %v", msgs, more, err)
	}
}

func TestRecallEditDelete(t *testing.T) {
	clk := newClock()
	s, _ := newStore(t, Config{Now: clk.Now})
	ctx := context.Background()
	m := send(t, s, "alice", "bob", "a1", `{"text":"oops"}`)
	change := func(from, kind string, seq uint64, cid, body string) (Ack, error) {
		return s.Append(ctx, AppendRequest{From: from, Device: "phone", ClientID: cid, Conv: m.Conv, Kind: kind, Ref: seq, Body: []byte(body)})
	}
	if _, err := change("bob", KindRecall, m.Seq, "b1", `{}`); !errors.Is(err, ErrForbidden) {
		t.Fatalf("recall by the recipient: %v", err)
	}
	if _, err := change("alice", KindEdit, m.Seq, "a2", `{"text":"fixed"}`); err != nil {
		t.Fatal(err)
	}
	h := historyAll(t, s, "bob", m.Conv)
	if string(h[0].Body) != `{"text":"fixed"}` || h[0].Edited == 0 || h[1].Kind != KindEdit || h[1].Ref != m.Seq {
		t.Fatalf("after edit: %+v", h)
	}
	clk.Advance(2*time.Minute + time.Millisecond)
	if _, err := change("alice", KindRecall, m.Seq, "a3", `{}`); !errors.Is(err, ErrTooLate) {
		t.Fatalf("recall after the window: %v", err)
	}
	m2 := send(t, s, "alice", "bob", "a4", `{"text":"again"}`)
	if _, err := change("alice", KindRecall, m2.Seq, "a5", `{}`); err != nil {
		t.Fatal(err)
	}
	h = historyAll(t, s, "alice", m.Conv)
	if got := h[len(h)-2]; !got.Recalled || string(got.Body) != "{}" {
		t.Fatalf("recalled message = %+v", got)
	}
	if _, err := change("alice", KindEdit, m2.Seq, "a6", `{"text":"x"}`); !errors.Is(err, ErrInvalid) {
		t.Fatalf("edit of a recalled message: %v", err)
	}

	// In a group the owner deletes anyone's message; a member cannot.
	req := groupReq("alice", "g1", "g:del", "bob", "carol")
	req.Name = "d"
	mustGroup(t)(s.CreateGroup(ctx, req))
	gm := sendGroup(t, s, "bob", "g:del", "b9", `{"text":"spam"}`)
	del := func(from string) error {
		_, err := s.Append(ctx, AppendRequest{From: from, Device: "phone", ClientID: "del-" + from, Conv: "g:del", Kind: KindDelete, Ref: gm.Seq, Body: []byte(`{}`)})
		return err
	}
	if err := del("carol"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("member deletes: %v", err)
	}
	if err := del("alice"); err != nil {
		t.Fatal(err)
	}
	if h := historyAll(t, s, "carol", "g:del"); !h[1].Deleted {
		t.Fatalf("deleted message = %+v", h[1])
	}
}

func TestDevices(t *testing.T) {
	var told []string
	s, _ := newStore(t, Config{OnDeviceState: func(user, device string, state DeviceState, unbind bool) {
		told = append(told, fmt.Sprint(user, "/", device, " ", state, " ", unbind))
	}})
	ctx := context.Background()
	if err := s.DeviceSeen(ctx, "alice", "phone", "ios", true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDeviceState(ctx, "alice", "phone", DeviceLoggedOut, true); err != nil {
		t.Fatal(err)
	}
	devs, err := s.Devices("alice")
	if err != nil || len(devs) != 1 || devs[0].State != DeviceLoggedOut || !devs[0].UnbindPush || devs[0].Platform != "ios" || devs[0].LastSeen == 0 {
		t.Fatalf("devices = %+v, %v", devs, err)
	}
	if err := s.SetDeviceState(ctx, "alice", "tablet", DeviceKicked, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown device: %v", err)
	}
	if want := "alice/phone logged_out true"; len(told) != 1 || told[0] != want {
		t.Fatalf("OnDeviceState heard %q, want only %q", told, want)
	}
}

// Users pages through every user that logged in, once each, however many
// devices it has.
func TestUsersPages(t *testing.T) {
	s, _ := newStore(t, Config{})
	ctx := context.Background()
	for _, ud := range []string{"bob/phone", "alice/phone", "bob/laptop", "al/x", "carol/web", "bob/tablet"} {
		user, dev, _ := strings.Cut(ud, "/")
		if err := s.DeviceSeen(ctx, user, dev, "ios", true); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetDeviceState(ctx, "carol", "web", DeviceLoggedOut, false); err != nil {
		t.Fatal(err) // also makes the DeviceSeen writes before it durable
	}
	var all []string
	after := ""
	for {
		page, err := s.Users(after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1]
	}
	if got := strings.Join(all, ","); got != "al,alice,bob,carol" {
		t.Fatalf("users = %s", got)
	}
}

// Unread, the badge, agrees with the conversations' unread counts, also
// for a group the user left.
func TestUnreadMatchesConversations(t *testing.T) {
	s, _ := newStore(t, Config{})
	ctx := context.Background()
	sendMany(t, s, "alice", "bob", 5)
	send(t, s, "carol", "bob", "c1", `{}`)
	req := groupReq("alice", "g1", "g:u", "bob")
	req.Name = "u"
	mustGroup(t)(s.CreateGroup(ctx, req))
	sendGroup(t, s, "alice", "g:u", "a1", `{}`)
	mustGroup(t)(s.RemoveMembers(ctx, groupReq("alice", "g2", "g:u", "bob")))
	sendGroup(t, s, "alice", "g:u", "a2", `{}`) // after bob's removal: not his
	if _, err := s.MarkRead(ctx, "bob", DirectConv("alice", "bob"), 2); err != nil {
		t.Fatal(err)
	}
	convs, err := s.Conversations("bob")
	if err != nil {
		t.Fatal(err)
	}
	var want uint64
	for _, c := range convs {
		want += c.Unread
	}
	got, err := s.Unread("bob")
	if err != nil || got != want || got != 3+1+3 {
		t.Fatalf("Unread = %d, %v; conversations say %d", got, err, want)
	}
}

// A device's confirmation moves the delivered mark of the conversations it
// names, never back, and the other member's summary shows it; a read
// counts as delivered.
func TestDeliveredMarks(t *testing.T) {
	s, _ := newStore(t, Config{})
	ctx := context.Background()
	sendMany(t, s, "alice", "bob", 3)
	conv := DirectConv("alice", "bob")
	peer := func() (delivered, read uint64) {
		t.Helper()
		cs, err := s.Conversations("alice")
		if err != nil || len(cs) != 1 {
			t.Fatalf("conversations: %+v %v", cs, err)
		}
		return cs[0].PeerDelivered, cs[0].PeerRead
	}
	if d, r := peer(); d != 0 || r != 0 {
		t.Fatalf("before: delivered %d read %d", d, r)
	}
	stored, moved, err := s.Confirm(ctx, "bob", "phone", 2, []ConvSeq{{conv, 2}})
	if err != nil || stored != 2 || len(moved) != 1 || moved[0] != (ConvSeq{conv, 2}) {
		t.Fatalf("confirm: %d %v %v", stored, moved, err)
	}
	if _, moved, _ := s.Confirm(ctx, "bob", "laptop", 1, []ConvSeq{{conv, 1}}); len(moved) != 0 {
		t.Fatalf("a lower mark moved: %v", moved)
	}
	if d, _ := peer(); d != 2 {
		t.Fatalf("delivered %d, want 2", d)
	}
	if _, err := s.MarkRead(ctx, "bob", conv, 3); err != nil {
		t.Fatal(err)
	}
	if d, r := peer(); d != 3 || r != 3 {
		t.Fatalf("after the read: delivered %d read %d", d, r)
	}
	if _, _, err := s.Confirm(ctx, "bob", "phone", 3, []ConvSeq{{"g:x", 1}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a group's delivered mark: %v", err)
	}
}
