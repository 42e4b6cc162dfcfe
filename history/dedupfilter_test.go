package history

import (
	"context"
	"fmt"
	"testing"
)

func TestDedupFilterNoFalseNegatives(t *testing.T) {
	f := newDedupFilter(10000)
	for i := range 10000 {
		f.add(dedupKey("u", "d", fmt.Sprint("c", i)))
	}
	for i := range 10000 {
		if !f.mayContain(dedupKey("u", "d", fmt.Sprint("c", i))) {
			t.Fatalf("added key c%d is reported absent", i)
		}
	}
	fp := 0
	for i := range 100000 {
		if f.mayContain(dedupKey("u", "d", fmt.Sprint("new", i))) {
			fp++
		}
	}
	// Sized for 10 bits per key at twice the load: well under 1%.
	if fp > 1000 {
		t.Errorf("%d of 100000 new keys reported present", fp)
	}
}

// A retried client id is a duplicate whether its record was loaded into the
// filter at Open, added by a commit, or carried over by a rebuild.
func TestDedupFilterAcrossReopenAndRebuild(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	req := func(cid string) AppendRequest {
		return AppendRequest{From: "alice", Device: "phone", ClientID: cid, To: "bob", Body: []byte(`{"text":"hi"}`)}
	}
	s := openStore(t, dir, Config{})
	first, err := s.Append(ctx, req("before-restart"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir, Config{})
	again, err := s.Append(ctx, req("before-restart"))
	if err != nil || !again.Duplicate || again.ID != first.ID {
		t.Fatalf("retry after reopen: %+v, %v; want the original ack %+v as a duplicate", again, err, first)
	}
	// Make the filter overfull so that the sweep rebuilds it.
	f := s.dedup.Load()
	f.added.Store(int64(f.mask))
	committed, err := s.Append(ctx, req("before-rebuild"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if s.dedup.Load() == f {
		t.Fatal("an overfull filter was not rebuilt")
	}
	for cid, want := range map[string]Ack{"before-restart": first, "before-rebuild": committed} {
		a, err := s.Append(ctx, req(cid))
		if err != nil || !a.Duplicate || a.ID != want.ID {
			t.Errorf("retry of %s after rebuild: %+v, %v; want a duplicate of %d", cid, a, err, want.ID)
		}
	}
	fresh, err := s.Append(ctx, req("after-rebuild"))
	if err != nil || fresh.Duplicate {
		t.Errorf("new id after rebuild: %+v, %v", fresh, err)
	}
}
