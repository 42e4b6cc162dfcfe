package history

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// TestMain fails the run if a Store goroutine outlives the tests: every
// Store is closed by its test, and Close waits for its goroutines, so none
// may be left.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "history.(*committer).run") || strings.Contains(g, "history.(*Store).sweepLoop") {
				fmt.Fprintf(os.Stderr, "leaked goroutine:\n%s\n", g)
				code = 1
			}
		}
	}
	os.Exit(code)
}

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openStore opens a Store in dir, closed when the test ends.
func openStore(tb testing.TB, dir string, cfg Config) *Store {
	tb.Helper()
	s, err := Open(dir, cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// newStore opens a Store in a new temporary directory.
func newStore(tb testing.TB, cfg Config) (*Store, string) {
	tb.Helper()
	dir := tb.TempDir()
	return openStore(tb, dir, cfg), dir
}

func msg(from, to, cid, body string) AppendRequest {
	return AppendRequest{From: from, Device: "phone", ClientID: cid, To: to, Body: []byte(body)}
}

// send appends a message and fails the test on error.
func send(tb testing.TB, s *Store, from, to, cid, body string) Ack {
	tb.Helper()
	ack, err := s.Append(context.Background(), msg(from, to, cid, body))
	if err != nil {
		tb.Fatalf("Append %s->%s %s: %v", from, to, cid, err)
	}
	return ack
}

// sendMany submits n messages from -> to at once, so that they share group
// commits, and waits for all of them.
func sendMany(tb testing.TB, s *Store, from, to string, n int) []Ack {
	tb.Helper()
	acks := make([]Ack, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		req := msg(from, to, fmt.Sprintf("bulk-%s-%d", to, i), fmt.Sprintf(`{"n":%d}`, i))
		err := s.Submit(context.Background(), req, func(a Ack, err error) {
			acks[i], errs[i] = a, err
			wg.Done()
		})
		if err != nil {
			tb.Fatalf("Submit %d: %v", i, err)
		}
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			tb.Fatalf("message %d: %v", i, err)
		}
	}
	return acks
}

// readAll reads user's whole inbox after `after`, page by page.
func readAll(tb testing.TB, s *Store, user string, after uint64) []InboxEntry {
	tb.Helper()
	var all []InboxEntry
	for {
		page, err := s.ReadInbox(user, after, maxInboxLimit)
		if err != nil {
			tb.Fatalf("ReadInbox(%s, %d): %v", user, after, err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].Pts
	}
}

// historyAll reads all of conv, oldest first.
func historyAll(tb testing.TB, s *Store, user, conv string) []Message {
	tb.Helper()
	var all []Message
	var before uint64
	for {
		page, more, err := s.History(user, conv, before, maxHistoryLimit)
		if err != nil {
			tb.Fatalf("History(%s, %s, %d): %v", user, conv, before, err)
		}
		all = append(page, all...)
		if !more {
			return all
		}
		before = page[0].Seq
	}
}

// countKeys counts the records of one kind.
func countKeys(tb testing.TB, s *Store, kind byte) int {
	tb.Helper()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kind}, UpperBound: []byte{kind + 1}})
	if err != nil {
		tb.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Error(); err != nil {
		tb.Fatal(err)
	}
	return n
}
