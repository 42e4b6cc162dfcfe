package history

import (
	"context"
	"fmt"
	"testing"
)

func TestTable(t *testing.T) {
	s, _ := newStore(t, Config{})
	ctx := context.Background()
	a, _ := s.Table("push")
	b, _ := s.Table("pus") // a prefix of the other's name: must not see its records
	if err := a.Apply(ctx, TableOp{Key: []byte("k1"), Value: []byte("v1")}, TableOp{Key: []byte("k2"), Value: []byte("v2")}, TableOp{Key: []byte{0xff, 0xff}, Value: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(ctx, TableOp{Key: []byte("hk"), Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if v, found, err := a.Get([]byte("k1")); err != nil || !found || string(v) != "v1" {
		t.Fatalf("Get = %q %v %v", v, found, err)
	}
	if err := a.Apply(ctx, TableOp{Key: []byte("k1"), Delete: true}); err != nil {
		t.Fatal(err)
	}
	var got []string
	a.Scan(nil, func(k, v []byte) error { got = append(got, fmt.Sprintf("%q=%s", k, v)); return nil })
	if fmt.Sprint(got) != `["k2"=v2 "\xff\xff"=hi]` {
		t.Fatalf("scan = %v", got)
	}
	got = nil
	b.Scan([]byte("h"), func(k, v []byte) error { got = append(got, string(k)); return nil })
	if fmt.Sprint(got) != "[hk]" {
		t.Fatalf("scan of the other table = %v", got)
	}
	if _, err := s.Table("bad name"); err == nil {
		t.Fatal("a bad table name was accepted")
	}
}

// A message marked for the push layer stays listed until it is done with,
// across a restart.
func TestPendingSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	mark := func(m *Message, _ []InboxRef) bool { return m.From == "alice" }
	s, err := Open(dir, Config{PushPending: mark})
	if err != nil {
		t.Fatal(err)
	}
	a1 := send(t, s, "alice", "bob", "c1", `{}`)
	send(t, s, "bob", "alice", "c2", `{}`) // not marked
	a2 := send(t, s, "alice", "bob", "c3", `{}`)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, Config{PushPending: mark})
	var ids []uint64
	s.Pending(func(a Appended) error { ids = append(ids, a.Message.ID); return nil })
	if fmt.Sprint(ids) != fmt.Sprint([]uint64{a1.ID, a2.ID}) {
		t.Fatalf("pending = %v", ids)
	}
	if err := s.DonePending(context.Background(), a1.ID); err != nil {
		t.Fatal(err)
	}
	ids = nil
	s.Pending(func(a Appended) error {
		ids = append(ids, a.Message.ID)
		if len(a.Inbox) != 2 {
			t.Errorf("pending message without its inbox refs: %+v", a)
		}
		return nil
	})
	if fmt.Sprint(ids) != fmt.Sprint([]uint64{a2.ID}) {
		t.Fatalf("pending after done = %v", ids)
	}
}
