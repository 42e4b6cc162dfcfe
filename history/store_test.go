package history

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(dir, Config{}); !errors.Is(err, ErrLocked) {
		if err == nil {
			s2.Close()
		}
		t.Fatalf("second Open in the same process: err = %v, want ErrLocked", err)
	}
	// The failed Open must not have disturbed the first Store.
	send(t, s, "alice", "bob", "c1", `{}`)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, Config{})
	if head, err := s.InboxHead("bob"); err != nil || head != 1 {
		t.Fatalf("after reopen: InboxHead = %d, %v; want 1", head, err)
	}
}

// The lock holds against another process too: the test binary re-runs
// itself as the child that tries to open the directory.
func TestOpenLockedOtherProcess(t *testing.T) {
	const env = "HISTORY_TEST_LOCKED_DIR"
	if dir := os.Getenv(env); dir != "" {
		s, err := Open(dir, Config{})
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("Open from another process: err = %v, want ErrLocked", err)
		}
		return
	}
	_, dir := newStore(t, Config{})
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenLockedOtherProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestOpenInvalidConfig(t *testing.T) {
	for _, cfg := range []Config{
		{MaxAge: -time.Second},
		{MaxPerConversation: -1},
		{MaxBatch: -1},
		{SweepInterval: -time.Second},
	} {
		if s, err := Open(t.TempDir(), cfg); !errors.Is(err, ErrInvalid) {
			if err == nil {
				s.Close()
			}
			t.Errorf("Open(%+v): err = %v, want ErrInvalid", cfg, err)
		}
	}
}

func TestCloseTwice(t *testing.T) {
	s, err := Open(t.TempDir(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatalf("Close again: %v", err)
	}
}

func TestAfterClose(t *testing.T) {
	s, err := Open(t.TempDir(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	send(t, s, "alice", "bob", "c1", `{}`)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := map[string]func() error{
		"Append": func() error { _, err := s.Append(ctx, msg("alice", "bob", "c2", `{}`)); return err },
		"Submit": func() error {
			return s.Submit(ctx, msg("alice", "bob", "c3", `{}`), func(Ack, error) { t.Error("done called") })
		},
		"SetCursor":     func() error { _, err := s.SetCursor(ctx, "bob", "phone", 1); return err },
		"MarkRead":      func() error { _, err := s.MarkRead(ctx, "bob", DirectConv("alice", "bob"), 1); return err },
		"ReadInbox":     func() error { _, err := s.ReadInbox("bob", 0, 0); return err },
		"InboxHead":     func() error { _, err := s.InboxHead("bob"); return err },
		"Cursor":        func() error { _, err := s.Cursor("bob", "phone"); return err },
		"History":       func() error { _, _, err := s.History("bob", DirectConv("alice", "bob"), 0, 0); return err },
		"Conversations": func() error { _, err := s.Conversations("bob"); return err },
		"Sweep":         func() error { return s.Sweep(ctx) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, ErrClosed) {
				t.Fatalf("err = %v, want ErrClosed", err)
			}
		})
	}
}

// Writes queued before Close are committed, not dropped.
func TestCloseCommitsQueued(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		err := s.Submit(context.Background(), msg("alice", "bob", "c"+strconv.Itoa(i), `{}`), func(a Ack, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("queued message %d: %v", i, err)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait() // Close returned after every done ran
	s = openStore(t, dir, Config{})
	if head, _ := s.InboxHead("bob"); head != n {
		t.Fatalf("InboxHead after reopen = %d, want %d", head, n)
	}
}

func TestAppendContextDone(t *testing.T) {
	s, _ := newStore(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Append(ctx, msg("alice", "bob", "c1", `{}`)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if head, _ := s.InboxHead("bob"); head != 0 {
		t.Fatalf("a cancelled Append was stored: head %d", head)
	}
}
