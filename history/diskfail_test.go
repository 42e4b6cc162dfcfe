package history

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// failingFS is the real file system with writes and syncs of the
// write-ahead log failing while fail is set: a full or failing disk.
type failingFS struct {
	*errorfs.FS
	fail atomic.Bool
}

// newFailingFS fails the log's writes and syncs, or only its syncs (the
// data then reaches the page cache but is not known to be on disk).
func newFailingFS(syncOnly bool) *failingFS {
	fs := &failingFS{}
	fs.FS = errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !fs.fail.Load() || !strings.HasSuffix(op.Path, ".log") {
			return nil
		}
		switch op.Kind {
		case errorfs.OpFileWrite, errorfs.OpFileWriteAt:
			if syncOnly {
				return nil
			}
			return errorfs.ErrInjected
		case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
			return errorfs.ErrInjected
		}
		return nil
	}))
	return fs
}

// commitLog records what OnCommit published.
type commitLog struct {
	mu  sync.Mutex
	ids []string // client ids
}

func (l *commitLog) onCommit(batch []Appended) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range batch {
		l.ids = append(l.ids, a.Message.ClientID)
	}
}

func (l *commitLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ids...)
}

// closeFailed closes a store whose log failed. Its error is not checked:
// Pebble's log writer reports the failure again on close.
func closeFailed(s *Store) { _ = s.Close() }

// A write the disk refuses is answered with ErrFailed, never acked nor
// published; the store then refuses every write and read (Pebble cannot go
// on with a failed log) until it is reopened, and after that the message is
// not there and the sequences go on without a gap.
func TestFailedLogWriteIsNotStored(t *testing.T) {
	dir := t.TempDir()
	fs := newFailingFS(false)
	var published commitLog
	s, err := Open(dir, Config{FS: fs, OnCommit: published.onCommit})
	if err != nil {
		t.Fatal(err)
	}
	first := send(t, s, "alice", "bob", "m1", `{"n":1}`)

	fs.fail.Store(true)
	got := make(chan error, 1)
	err = s.Submit(context.Background(), msg("alice", "bob", "m2", `{"n":2}`), func(a Ack, err error) {
		if err == nil {
			t.Errorf("a message the disk refused was acked: %+v", a)
		}
		got <- err
	})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if err := <-got; !errors.Is(err, ErrFailed) {
		t.Fatalf("failed commit answered %v, want ErrFailed", err)
	}
	// The failure sticks, also once the disk works again: Pebble's log
	// writer keeps the error, and the next write through it would panic.
	for _, failing := range []bool{true, false} {
		fs.fail.Store(failing)
		if _, err := s.Append(context.Background(), msg("alice", "bob", "m3", `{"n":3}`)); !errors.Is(err, ErrFailed) {
			t.Fatalf("Append after the failure (disk failing: %v): %v, want ErrFailed", failing, err)
		}
		if _, err := s.SetCursor(context.Background(), "bob", "phone", 1); !errors.Is(err, ErrFailed) {
			t.Fatalf("SetCursor after the failure: %v, want ErrFailed", err)
		}
		// Pebble shows a batch before its fsync: reads would see m2.
		if _, _, err := s.History("alice", DirectConv("alice", "bob"), 0, 10); !errors.Is(err, ErrFailed) {
			t.Fatalf("History after the failure: %v, want ErrFailed", err)
		}
		if _, err := s.ReadInbox("bob", 0, 10); !errors.Is(err, ErrFailed) {
			t.Fatalf("ReadInbox after the failure: %v, want ErrFailed", err)
		}
	}
	if ids := published.all(); len(ids) != 1 || ids[0] != "m1" {
		t.Fatalf("OnCommit published %q, want only m1", ids)
	}
	closeFailed(s)

	s = openStore(t, dir, Config{FS: fs})
	if h := historyAll(t, s, "bob", DirectConv("alice", "bob")); len(h) != 1 || h[0].ClientID != "m1" {
		t.Fatalf("history after reopening = %+v, want only m1", h)
	}
	if in := readAll(t, s, "bob", 0); len(in) != 1 {
		t.Fatalf("bob's inbox after reopening has %d entries, want 1", len(in))
	}
	// The client retries the failed message: stored now, once, right
	// after m1; a further retry is a duplicate.
	retry := send(t, s, "alice", "bob", "m2", `{"n":2}`)
	if retry.Duplicate || retry.ID != first.ID+1 || retry.Seq != 2 || retry.Pts != 2 {
		t.Fatalf("retry of m2 = %+v, want new id %d, seq 2, pts 2", retry, first.ID+1)
	}
	if again := send(t, s, "alice", "bob", "m2", `{"n":2}`); !again.Duplicate || again.ID != retry.ID {
		t.Fatalf("second retry of m2 = %+v, want the duplicate of %+v", again, retry)
	}
	if next := send(t, s, "alice", "bob", "m4", `{"n":4}`); next.Seq != 3 || next.Pts != 3 {
		t.Fatalf("next message = %+v, want seq 3, pts 3", next)
	}
	in := readAll(t, s, "bob", 0)
	for i, e := range in {
		if e.Pts != uint64(i+1) || e.Message.Seq != uint64(i+1) {
			t.Fatalf("bob's inbox entry %d = pts %d seq %d: a gap or a duplicate", i, e.Pts, e.Message.Seq)
		}
	}
	if len(in) != 3 {
		t.Fatalf("bob's inbox has %d entries, want 3", len(in))
	}
}

// When only the fsync fails, the data may have reached the disk anyway, so
// an error does not mean "not stored". The client's retry with the same
// client id settles it: the message ends up stored exactly once.
func TestFailedLogSyncIsStoredAtMostOnce(t *testing.T) {
	dir := t.TempDir()
	fs := newFailingFS(true)
	s, err := Open(dir, Config{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	send(t, s, "alice", "bob", "m1", `{"n":1}`)
	fs.fail.Store(true)
	if a, err := s.Append(context.Background(), msg("alice", "bob", "m2", `{"n":2}`)); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append with a failing fsync = %+v, %v; want ErrFailed", a, err)
	}
	fs.fail.Store(false)
	closeFailed(s)

	s = openStore(t, dir, Config{FS: fs})
	retry := send(t, s, "alice", "bob", "m2", `{"n":2}`)
	if retry.Seq != 2 || retry.Pts != 2 {
		t.Fatalf("retry of m2 = %+v, want seq 2, pts 2", retry)
	}
	send(t, s, "alice", "bob", "m2", `{"n":2}`)
	h := historyAll(t, s, "alice", DirectConv("alice", "bob"))
	if len(h) != 2 || h[0].ClientID != "m1" || h[1].ClientID != "m2" {
		t.Fatalf("history = %+v, want m1 and m2 once each", h)
	}
}
