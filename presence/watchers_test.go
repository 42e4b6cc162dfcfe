package presence

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// checkWatchers fails tb unless w's two maps agree with each other and hold
// no empty entries.
func checkWatchers[W comparable](tb testing.TB, w *Watchers[W]) {
	tb.Helper()
	w.mu.RLock()
	defer w.mu.RUnlock()
	n := 0
	for watcher, set := range w.watched {
		if len(set) == 0 {
			tb.Fatalf("watcher %v has an empty set", watcher)
		}
		for u, i := range set {
			if ws := w.watchers[u]; i >= len(ws) || ws[i] != watcher {
				tb.Fatalf("watched[%v][%s] = %d, but watchers[%s] = %v", watcher, u, i, u, ws)
			}
		}
		n += len(set)
	}
	m := 0
	for u, ws := range w.watchers {
		if len(ws) == 0 {
			tb.Fatalf("user %s has an empty watcher list", u)
		}
		m += len(ws)
	}
	if n != m {
		tb.Fatalf("%d (watcher, user) pairs one way, %d the other", n, m)
	}
}

func sorted(ws []string) string {
	ws = slices.Clone(ws)
	slices.Sort(ws)
	return fmt.Sprint(ws)
}

func TestWatchers(t *testing.T) {
	type op struct {
		kind    string // watch, unwatch, unwatchAll
		watcher string
		users   []string
		err     error // want, from watch
	}
	watch := func(w string, users ...string) op { return op{kind: "watch", watcher: w, users: users} }
	watchErr := func(w string, users ...string) op {
		return op{kind: "watch", watcher: w, users: users, err: ErrTooManyWatched}
	}
	unwatch := func(w string, users ...string) op { return op{kind: "unwatch", watcher: w, users: users} }
	unwatchAll := func(w string) op { return op{kind: "unwatchAll", watcher: w} }

	tests := []struct {
		name     string
		max      int
		ops      []op
		append   map[string]string // user -> its watchers, sorted
		watching map[string]int    // watcher -> Watching
	}{
		{
			name:     "watch",
			ops:      []op{watch("s1", "alice", "bob"), watch("s2", "alice")},
			append:   map[string]string{"alice": "[s1 s2]", "bob": "[s1]", "carol": "[]"},
			watching: map[string]int{"s1": 2, "s2": 1, "s3": 0},
		},
		{
			name:     "watching twice is fine",
			ops:      []op{watch("s1", "alice", "alice"), watch("s1", "alice")},
			append:   map[string]string{"alice": "[s1]"},
			watching: map[string]int{"s1": 1},
		},
		{
			name:     "watch nothing",
			ops:      []op{watch("s1"), watch("s1", []string{}...)},
			watching: map[string]int{"s1": 0},
		},
		{
			name:     "unwatch",
			ops:      []op{watch("s1", "alice", "bob"), watch("s2", "alice"), unwatch("s1", "alice", "carol")},
			append:   map[string]string{"alice": "[s2]", "bob": "[s1]"},
			watching: map[string]int{"s1": 1, "s2": 1},
		},
		{
			name:     "unwatch by a stranger",
			ops:      []op{watch("s1", "alice"), unwatch("s2", "alice"), unwatchAll("s3")},
			append:   map[string]string{"alice": "[s1]"},
			watching: map[string]int{"s1": 1, "s2": 0, "s3": 0},
		},
		{
			name:     "unwatch all",
			ops:      []op{watch("s1", "alice", "bob"), watch("s2", "alice"), unwatchAll("s1")},
			append:   map[string]string{"alice": "[s2]", "bob": "[]"},
			watching: map[string]int{"s1": 0, "s2": 1},
		},
		{
			name: "removal from the middle keeps the others",
			ops: []op{
				watch("s1", "alice"), watch("s2", "alice"), watch("s3", "alice"), watch("s4", "alice"),
				unwatch("s2", "alice"), unwatchAll("s1"), watch("s5", "alice"),
			},
			append:   map[string]string{"alice": "[s3 s4 s5]"},
			watching: map[string]int{"s1": 0, "s2": 0, "s3": 1},
		},
		{
			name:     "up to the limit",
			max:      2,
			ops:      []op{watch("s1", "alice"), watch("s1", "bob", "alice", "bob")},
			append:   map[string]string{"alice": "[s1]", "bob": "[s1]"},
			watching: map[string]int{"s1": 2},
		},
		{
			name:     "over the limit adds nothing",
			max:      2,
			ops:      []op{watch("s1", "alice"), watchErr("s1", "bob", "carol"), watchErr("s2", "a", "b", "c")},
			append:   map[string]string{"alice": "[s1]", "bob": "[]", "carol": "[]", "a": "[]"},
			watching: map[string]int{"s1": 1, "s2": 0},
		},
		{
			name:     "the limit is per watcher",
			max:      1,
			ops:      []op{watch("s1", "alice"), watch("s2", "alice"), watchErr("s1", "bob")},
			append:   map[string]string{"alice": "[s1 s2]"},
			watching: map[string]int{"s1": 1, "s2": 1},
		},
		{
			name:     "unwatch frees room",
			max:      1,
			ops:      []op{watch("s1", "alice"), unwatch("s1", "alice"), watch("s1", "bob")},
			append:   map[string]string{"alice": "[]", "bob": "[s1]"},
			watching: map[string]int{"s1": 1},
		},
		{
			name:     "negative max is unlimited",
			max:      -1,
			ops:      []op{watch("s1", "a", "b", "c", "d")},
			watching: map[string]int{"s1": 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWatchers[string](tt.max)
			for i, o := range tt.ops {
				switch o.kind {
				case "watch":
					if err := w.Watch(o.watcher, o.users); !errors.Is(err, o.err) {
						t.Fatalf("op %d: Watch(%s, %v) = %v, want %v", i, o.watcher, o.users, err, o.err)
					}
				case "unwatch":
					w.Unwatch(o.watcher, o.users)
				case "unwatchAll":
					w.UnwatchAll(o.watcher)
				}
				checkWatchers(t, w)
			}
			for user, want := range tt.append {
				if got := sorted(w.Append(nil, user)); got != want {
					t.Errorf("Append(%s) = %s, want %s", user, got, want)
				}
			}
			for watcher, want := range tt.watching {
				if got := w.Watching(watcher); got != want {
					t.Errorf("Watching(%s) = %d, want %d", watcher, got, want)
				}
			}
		})
	}
}

func TestWatchersAppendKeepsDst(t *testing.T) {
	w := NewWatchers[int](0)
	w.Watch(1, []string{"alice"})
	if got := w.Append([]int{7}, "alice"); fmt.Sprint(got) != "[7 1]" {
		t.Fatalf("Append = %v, want [7 1]", got)
	}
}

// When watchers go, nothing is left behind: no empty entries for users or
// watchers, and a list most watchers left is reallocated smaller.
func TestWatchersCleanup(t *testing.T) {
	w := NewWatchers[int](0)
	for s := 0; s < 1000; s++ {
		if err := w.Watch(s, []string{"celebrity", fmt.Sprint("fan", s)}); err != nil {
			t.Fatal(err)
		}
	}
	for s := 10; s < 1000; s++ {
		w.UnwatchAll(s)
	}
	checkWatchers(t, w)
	w.mu.RLock()
	users, watchers, c := len(w.watchers), len(w.watched), cap(w.watchers["celebrity"])
	w.mu.RUnlock()
	if users != 11 || watchers != 10 {
		t.Fatalf("%d users and %d watchers left, want 11 and 10", users, watchers)
	}
	if c > 64 {
		t.Fatalf("celebrity's watcher list kept cap %d for 10 watchers", c)
	}
	for s := 0; s < 10; s++ {
		w.Unwatch(s, []string{"celebrity", fmt.Sprint("fan", s)})
	}
	w.mu.RLock()
	users, watchers = len(w.watchers), len(w.watched)
	w.mu.RUnlock()
	if users != 0 || watchers != 0 {
		t.Fatalf("%d users and %d watchers left after all went, want none", users, watchers)
	}
}

func TestWatchersConcurrent(t *testing.T) {
	w := NewWatchers[int](50)
	var wg sync.WaitGroup
	for s := 0; s < 8; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			var buf []int
			for i := 0; i < 300; i++ {
				users := []string{fmt.Sprint("u", i%20), fmt.Sprint("u", (i+s)%20)}
				if err := w.Watch(s, users); err != nil {
					t.Error(err)
					return
				}
				buf = w.Append(buf[:0], users[0])
				if !slices.Contains(buf, s) {
					t.Errorf("watcher %d missing from Append(%s) = %v", s, users[0], buf)
					return
				}
				w.Watching(s)
				switch i % 3 {
				case 0:
					w.Unwatch(s, users[:1])
				case 1:
					w.UnwatchAll(s)
				}
			}
			w.UnwatchAll(s)
		}(s)
	}
	wg.Wait()
	checkWatchers(t, w)
	if len(w.watchers) != 0 || len(w.watched) != 0 {
		t.Fatalf("%d users, %d watchers left", len(w.watchers), len(w.watched))
	}
}

// BenchmarkAppend fans out from a registry of 10,000 watched users: each
// watched by 10 of 1,000 watchers, and one watched by all of them.
func BenchmarkAppend(b *testing.B) {
	const users, watchers, perWatcher = 10000, 1000, 100
	w := NewWatchers[int](0)
	for s := 0; s < watchers; s++ {
		list := make([]string, 0, perWatcher+1)
		for i := 0; i < perWatcher; i++ {
			list = append(list, fmt.Sprint("user", (s*users/watchers+i)%users))
		}
		if err := w.Watch(s, append(list, "user0")); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct{ name, user string }{
		{"10watchers", "user42"},
		{"1000watchers", "user0"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]int, 0, watchers)
				for pb.Next() {
					buf = w.Append(buf[:0], bc.user)
				}
			})
		})
	}
}
