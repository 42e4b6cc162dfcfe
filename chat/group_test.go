package chat

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loftchat/loft/history"
)

// request writes a frame with id and returns the answer with that id,
// skipping live frames in between.
func (c *client) request(v map[string]any) frame {
	c.tb.Helper()
	id := fmt.Sprint(v["type"], "-", time.Now().UnixNano())
	v["id"] = id
	c.write(v)
	for {
		f, err := c.read()
		if err != nil {
			c.tb.Fatalf("waiting for the answer to %v: %v", v["type"], err)
		}
		if f.ID == id {
			return f
		}
	}
}

// ok fails unless f is not an error frame.
func ok(tb testing.TB, f frame) frame {
	tb.Helper()
	if f.Type == "error" {
		tb.Fatalf("error: %s", f.Raw)
	}
	return f
}

func wantCode(tb testing.TB, f frame, code Code) {
	tb.Helper()
	if f.Type != "error" || f.Code != string(code) {
		tb.Fatalf("got %s, want error %q", f.Raw, code)
	}
}

// createGroup creates a group owned by c with users and returns its conv.
func createGroup(tb testing.TB, c *client, name string, users ...string) string {
	tb.Helper()
	f := ok(tb, c.request(map[string]any{"type": "group_create", "cid": "create-" + name, "name": name, "users": users}))
	if f.Type != "ack" || f.Conv == "" || f.Seq != 1 {
		tb.Fatalf("group_create answered %s", f.Raw)
	}
	return f.Conv
}

func sendTo(c *client, conv, cid, body string) frame {
	c.tb.Helper()
	return c.request(map[string]any{"type": "send", "conv": conv, "cid": cid, "body": json.RawMessage(body)})
}

// The 1,000-member group: every online member's device gets every
// message live, in order, once; every offline member syncs it from its inbox.
func TestThousandMemberGroup(t *testing.T) {
	ts := newTestServerStore(t, history.Config{FanoutLimit: 1000}, nil)
	owner := ts.online(t, "owner", "phone")
	users := make([]string, 999)
	for i := range users {
		users[i] = fmt.Sprintf("m%03d", i)
	}
	conv := createGroup(t, owner, "big", users...)
	const sends = 3

	// Half the members online, logged in 32 at a time.
	online := users[:500]
	clients := make([]*client, len(online))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i, u := range online {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, f := ts.login(t, u, "phone")
			// The creation event is already in the inbox.
			if es := c.syncFrom(f.Cursor); len(es) != 1 || es[0].Kind != "event" {
				t.Errorf("%s synced %d entries at login", u, len(es))
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i := range sends {
		ok(t, sendTo(owner, conv, fmt.Sprint("s", i), fmt.Sprintf(`{"n":%d}`, i)))
	}
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			es := c.entries(sends)
			for j, e := range es {
				if e.Conv != conv || e.Seq != uint64(j+2) || e.Pts != uint64(j+2) {
					t.Errorf("%s entry %d = %+v", online[i], j, e)
					return
				}
			}
		}()
	}
	wg.Wait()

	// The other half was offline: each syncs the creation and every send.
	for _, u := range users[500:] {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, f := ts.login(t, u, "phone")
			es := c.syncFrom(f.Cursor)
			if len(es) != sends+1 || es[sends].Seq != sends+1 {
				t.Errorf("%s synced %d entries, want %d", u, len(es), sends+1)
			}
			c.conn.CloseNow()
		}()
	}
	wg.Wait()
}

// A group over the fan-out limit keeps only its log: members are told its
// seq, and a member that was offline learns at sync which groups moved and
// fetches exactly what it missed.
func TestReadFanoutGroupCatchUp(t *testing.T) {
	ts := newTestServerStore(t, history.Config{FanoutLimit: 3}, nil)
	alice := ts.online(t, "alice", "phone")
	conv := createGroup(t, alice, "channel", "bob", "carol", "dave")
	carol := ts.online(t, "carol", "phone")

	// bob syncs once, keeps the mark, and goes away.
	bob, f := ts.login(t, "bob", "phone")
	bob.write(map[string]any{"type": "sync", "id": "s", "after": f.Cursor})
	synced := bob.expect("synced")
	mark := synced.GroupsMark
	var seen uint64 = 1 // the creation event: bob fetched it before
	bob.conn.CloseNow()

	for i := range 4 {
		ok(t, sendTo(alice, conv, fmt.Sprint("m", i), `{"text":"x"}`))
	}
	// carol, online, is told the new seq and gets no inbox entries.
	var last uint64
	for last < 5 {
		f := carol.expect("group_seq")
		if f.Conv != conv || f.Seq <= last {
			t.Fatalf("group_seq %s after %d", f.Raw, last)
		}
		last = f.Seq
	}

	bob, f = ts.login(t, "bob", "phone")
	bob.write(map[string]any{"type": "sync", "id": "s", "after": f.Cursor, "groups_after": mark})
	synced = bob.expect("synced")
	var moved []struct {
		Conv string `json:"conv"`
		Seq  uint64 `json:"seq"`
	}
	if err := json.Unmarshal(synced.Groups, &moved); err != nil || len(moved) != 1 || moved[0].Conv != conv || moved[0].Seq != 5 {
		t.Fatalf("synced groups = %s (%v)", synced.Groups, err)
	}
	h := ok(t, bob.request(map[string]any{"type": "history", "conv": conv, "after": seen}))
	if len(h.Messages) != 4 || h.Messages[0].Seq != 2 || h.Messages[3].Seq != 5 || h.More {
		t.Fatalf("history after %d = %s", seen, h.Raw)
	}
	// A second sync from the new mark reports nothing moved.
	bob.write(map[string]any{"type": "sync", "id": "s", "after": 0, "groups_after": synced.GroupsMark})
	if f := bob.expect("synced"); string(f.Groups) != "[]" {
		t.Fatalf("second sync groups = %s", f.Groups)
	}
}

func TestGroupMembershipRules(t *testing.T) {
	ts := newTestServer(t, nil)
	alice := ts.online(t, "alice", "phone")
	conv := createGroup(t, alice, "team", "bob", "carol")
	bob := ts.online(t, "bob", "phone")
	carol := ts.online(t, "carol", "phone")

	// A plain member may not add or remove; the owner may.
	wantCode(t, bob.request(map[string]any{"type": "group_add", "cid": "b1", "conv": conv, "users": []string{"dave"}}), CodeForbidden)
	ok(t, alice.request(map[string]any{"type": "group_role", "cid": "r1", "conv": conv, "users": []string{"bob"}, "role": "admin"}))
	ok(t, bob.request(map[string]any{"type": "group_add", "cid": "b2", "conv": conv, "users": []string{"dave"}}))
	// An admin may not remove the owner.
	wantCode(t, bob.request(map[string]any{"type": "group_remove", "cid": "b3", "conv": conv, "users": []string{"alice"}}), CodeForbidden)

	before := ok(t, sendTo(alice, conv, "a1", `{"text":"before"}`))
	removed := ok(t, bob.request(map[string]any{"type": "group_remove", "cid": "b4", "conv": conv, "users": []string{"carol"}}))
	ok(t, sendTo(alice, conv, "a2", `{"text":"after"}`))

	// carol saw everything up to her removal, live, and nothing after.
	var got []uint64
	for len(got) == 0 || got[len(got)-1] < removed.Seq {
		for _, e := range carol.nextEntries() { // live entries may come coalesced
			got = append(got, e.Seq)
		}
	}
	if !slices.Contains(got, before.Seq) {
		t.Fatalf("carol's entries %v lack %d", got, before.Seq)
	}
	f := carol.request(map[string]any{"type": "history", "conv": conv})
	if n := len(f.Messages); n == 0 || f.Messages[n-1].Seq != removed.Seq {
		t.Fatalf("carol's history ends at %s, want her removal at %d", f.Raw, removed.Seq)
	}
	wantCode(t, sendTo(carol, conv, "c1", `{"text":"let me in"}`), CodeForbidden)
	wantCode(t, carol.request(map[string]any{"type": "group_members", "conv": conv}), CodeNotFound)
	// Her conversation list says she left.
	convs := carol.request(map[string]any{"type": "conversations"}).Conversations
	if len(convs) != 1 || !convs[0].Left || convs[0].LastSeq != removed.Seq {
		t.Fatalf("carol's conversations = %+v", convs)
	}
	// The others' list of members is current.
	m := ok(t, alice.request(map[string]any{"type": "group_members", "conv": conv}))
	var members struct {
		Members []memberJSON `json:"members"`
		Owner   string       `json:"owner"`
	}
	json.Unmarshal(m.Raw, &members)
	if fmt.Sprint(members.Members) != "[{alice owner} {bob admin} {dave member}]" || members.Owner != "alice" {
		t.Fatalf("members = %s", m.Raw)
	}
}

func TestGroupReceipts(t *testing.T) {
	ts := newTestServer(t, nil)
	alice := ts.online(t, "alice", "phone")
	conv := createGroup(t, alice, "r", "bob", "carol")
	bob := ts.online(t, "bob", "phone")
	sent := ok(t, sendTo(alice, conv, "a1", `{"text":"read me"}`))
	ok(t, bob.request(map[string]any{"type": "read", "conv": conv, "seq": sent.Seq}))
	r := ok(t, alice.request(map[string]any{"type": "receipts", "conv": conv, "seq": sent.Seq}))
	var got struct {
		Members int      `json:"members"`
		Read    int      `json:"read"`
		Readers []string `json:"readers"`
	}
	json.Unmarshal(r.Raw, &got)
	if got.Members != 2 || got.Read != 1 || fmt.Sprint(got.Readers) != "[bob]" {
		t.Fatalf("receipts = %s", r.Raw)
	}
}

func TestRecallAndEdit(t *testing.T) {
	clk := &testClock{t: time.Now()}
	ts := newTestServerStore(t, history.Config{Now: clk.Now}, nil)
	alice := ts.online(t, "alice", "phone")
	bob := ts.online(t, "bob", "phone")
	sent := alice.sendMsg("bob", "m1", `{"text":"oops"}`)
	bob.entries(1)

	wantCode(t, bob.request(map[string]any{"type": "recall", "conv": sent.Conv, "seq": sent.Seq, "cid": "b1"}), CodeForbidden)
	ok(t, alice.request(map[string]any{"type": "edit", "conv": sent.Conv, "seq": sent.Seq, "cid": "e1", "body": map[string]string{"text": "fixed"}}))
	es := bob.entries(1)
	if es[0].Kind != "edit" || es[0].Ref != sent.Seq || string(es[0].Body) != `{"text":"fixed"}` {
		t.Fatalf("bob got %+v for the edit", es[0])
	}
	ok(t, alice.request(map[string]any{"type": "recall", "conv": sent.Conv, "seq": sent.Seq, "cid": "r1"}))
	if es := bob.entries(1); es[0].Kind != "recall" || es[0].Ref != sent.Seq {
		t.Fatalf("bob got %+v for the recall", es[0])
	}
	h := bob.request(map[string]any{"type": "history", "conv": sent.Conv})
	if m := h.Messages[0]; !m.Recalled || string(m.Body) != "{}" || m.Edited == 0 {
		t.Fatalf("history shows the recalled message as %s", h.Raw)
	}

	// Past the window: too late.
	late := alice.sendMsg("bob", "m2", `{"text":"later"}`)
	clk.Advance(2*time.Minute + time.Second)
	wantCode(t, alice.request(map[string]any{"type": "recall", "conv": late.Conv, "seq": late.Seq, "cid": "r2"}), CodeTooLate)
	ok(t, alice.request(map[string]any{"type": "edit", "conv": late.Conv, "seq": late.Seq, "cid": "e2", "body": map[string]string{"text": "still editable"}}))
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// until reads live entries, skipping acks, until the one with conv's seq,
// and returns it. Entries a request skipped are not waited for.
func (c *client) until(conv string, seq uint64) entry {
	c.tb.Helper()
	for {
		f, err := c.read()
		if err != nil {
			c.tb.Fatalf("waiting for %s seq %d: %v", conv, seq, err)
		}
		if f.Type != "messages" {
			continue
		}
		for _, e := range f.Messages {
			if e.Conv == conv && e.Seq == seq {
				return e
			}
		}
	}
}

// The rest of a group's life over the wire: the sender's other device gets
// its messages, renames, typing, an owner's delete, leaving, and the list of
// groups.
func TestGroupEverydayUse(t *testing.T) {
	ts := newTestServer(t, nil)
	phone := ts.online(t, "alice", "phone")
	laptop := ts.online(t, "alice", "laptop")
	conv := createGroup(t, phone, "team", "bob", "carol")
	bob := ts.online(t, "bob", "phone")
	carol := ts.online(t, "carol", "phone")

	sent := ok(t, sendTo(bob, conv, "b1", `{"text":"hello team"}`))
	for _, c := range []*client{phone, laptop, carol} {
		if e := c.until(conv, sent.Seq); e.From != "bob" || string(e.Body) != `{"text":"hello team"}` {
			t.Fatalf("%s got %+v", c.user, e)
		}
	}
	mine := ok(t, sendTo(phone, conv, "a1", `{"text":"from my phone"}`))
	if e := laptop.until(conv, mine.Seq); e.CID != "a1" || e.Device != "phone" {
		t.Fatalf("alice's laptop got %+v for her own message", e)
	}

	renamed := ok(t, phone.request(map[string]any{"type": "group_rename", "cid": "a2", "conv": conv, "name": "dream team"}))
	for _, c := range []*client{laptop, bob, carol} {
		if e := c.until(conv, renamed.Seq); e.Kind != "event" || !strings.Contains(string(e.Body), `"renamed"`) {
			t.Fatalf("%s got %+v", c.user, e)
		}
	}

	carol.write(map[string]any{"type": "typing", "conv": conv})
	for _, c := range []*client{laptop, bob} {
		if f := c.expect("typing"); f.User != "carol" || f.Conv != conv {
			t.Fatalf("%s got %s", c.user, f.Raw)
		}
	}

	// The owner deletes bob's message; everyone's history shows it deleted.
	del := ok(t, phone.request(map[string]any{"type": "delete", "cid": "a3", "conv": conv, "seq": sent.Seq}))
	if e := bob.until(conv, del.Seq); e.Kind != "delete" || e.Ref != sent.Seq {
		t.Fatalf("bob got %+v", e)
	}
	h := ok(t, carol.request(map[string]any{"type": "history", "conv": conv}))
	if !h.Messages[1].Deleted || string(h.Messages[1].Body) != "{}" {
		t.Fatalf("carol's history = %s", h.Raw)
	}

	// The owner leaves: bob, the first to join, owns the group.
	ok(t, phone.request(map[string]any{"type": "group_leave", "cid": "a4", "conv": conv}))
	m := ok(t, bob.request(map[string]any{"type": "group_members", "conv": conv}))
	if !strings.Contains(string(m.Raw), `"owner":"bob"`) || strings.Contains(string(m.Raw), `"alice"`) {
		t.Fatalf("members after alice left = %s", m.Raw)
	}
	g := ok(t, bob.request(map[string]any{"type": "groups"}))
	if !strings.Contains(string(g.Groups), `"name":"dream team"`) || !strings.Contains(string(g.Groups), `"role":"owner"`) {
		t.Fatalf("bob's groups = %s", g.Groups)
	}
	if g := ok(t, laptop.request(map[string]any{"type": "groups"})); string(g.Groups) != "[]" {
		t.Fatalf("alice's groups after leaving = %s", g.Groups)
	}
}
