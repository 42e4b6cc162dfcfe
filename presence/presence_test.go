package presence

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

func ids(devs []Device) []string {
	out := make([]string, 0, len(devs))
	for _, d := range devs {
		out = append(out, d.ID)
	}
	sort.Strings(out)
	return out
}

func TestConnectDisconnect(t *testing.T) {
	tr := New()
	now := time.Unix(1700000000, 0)
	g1 := tr.Connect("alice", Device{ID: "phone", Platform: "ios", Since: now})
	tr.Connect("alice", Device{ID: "laptop", Platform: "desktop", Since: now})
	tr.Connect("bob", Device{ID: "web", Platform: "web", Since: now})

	if got := ids(tr.Devices(nil, "alice")); fmt.Sprint(got) != "[laptop phone]" {
		t.Fatalf("alice devices = %v", got)
	}
	if !tr.Disconnect("alice", "phone", g1) {
		t.Fatal("Disconnect with current generation = false")
	}
	if tr.Online("alice", "phone") {
		t.Fatal("phone still online after disconnect")
	}
	if got := ids(tr.Devices(nil, "alice")); fmt.Sprint(got) != "[laptop]" {
		t.Fatalf("alice devices = %v", got)
	}
	if tr.Count() != 2 {
		t.Fatalf("Count = %d, want 2", tr.Count())
	}
	if got := tr.Devices(nil, "carol"); len(got) != 0 {
		t.Fatalf("unknown user has devices %v", got)
	}
}

// A reconnecting device must not be taken offline by its old connection's
// late disconnect.
func TestReplacedConnectionStaleDisconnect(t *testing.T) {
	tr := New()
	old := tr.Connect("alice", Device{ID: "phone", Platform: "android"})
	cur := tr.Connect("alice", Device{ID: "phone", Platform: "android"})
	if got := tr.Devices(nil, "alice"); len(got) != 1 {
		t.Fatalf("same device twice: %v", got)
	}
	if tr.Disconnect("alice", "phone", old) {
		t.Fatal("stale generation disconnected the current connection")
	}
	if !tr.Online("alice", "phone") {
		t.Fatal("phone offline after stale disconnect")
	}
	if !tr.Disconnect("alice", "phone", cur) || tr.Online("alice", "phone") {
		t.Fatal("current generation did not disconnect")
	}
	if tr.Count() != 0 {
		t.Fatalf("Count = %d after all disconnected", tr.Count())
	}
}

func TestConcurrent(t *testing.T) {
	tr := New()
	var wg sync.WaitGroup
	for u := 0; u < 8; u++ {
		wg.Add(1)
		go func(u int) {
			defer wg.Done()
			user := fmt.Sprint("u", u)
			for i := 0; i < 200; i++ {
				dev := fmt.Sprint("d", i%4)
				g := tr.Connect(user, Device{ID: dev})
				tr.Devices(nil, user)
				tr.Disconnect(user, dev, g)
			}
		}(u)
	}
	wg.Wait()
	if tr.Count() != 0 {
		t.Fatalf("Count = %d, want 0", tr.Count())
	}
}

func BenchmarkDevices(b *testing.B) {
	tr := New()
	for i := 0; i < 10000; i++ {
		for d := 0; d < 3; d++ {
			tr.Connect(fmt.Sprint("user", i), Device{ID: fmt.Sprint("dev", d)})
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]Device, 0, 8)
		for pb.Next() {
			buf = tr.Devices(buf[:0], "user42")
		}
	})
}

// TestChanges drives a Tracker through a script and checks the Changes it
// reports, in order.
func TestChanges(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	type step struct {
		disconnect bool
		user, dev  string
		gen        string        // connect: name to save the generation as; disconnect: name to present
		at         time.Duration // the clock during the step, after t0
	}
	online := func(u string) Change { return Change{User: u, Online: true} }
	offline := func(u string, at time.Duration) Change { return Change{User: u, LastSeen: t0.Add(at)} }
	tests := []struct {
		name  string
		steps []step
		want  []Change
	}{
		{
			name:  "first connect",
			steps: []step{{user: "alice", dev: "phone", gen: "p"}},
			want:  []Change{online("alice")},
		},
		{
			name: "second device is not a change",
			steps: []step{
				{user: "alice", dev: "phone", gen: "p"},
				{user: "alice", dev: "laptop", gen: "l"},
			},
			want: []Change{online("alice")},
		},
		{
			name: "reconnect of the only device is not a change",
			steps: []step{
				{user: "alice", dev: "phone", gen: "old"},
				{user: "alice", dev: "phone", gen: "new"},
			},
			want: []Change{online("alice")},
		},
		{
			name: "stale disconnect is not a change",
			steps: []step{
				{user: "alice", dev: "phone", gen: "old"},
				{user: "alice", dev: "phone", gen: "new"},
				{disconnect: true, user: "alice", dev: "phone", gen: "old", at: time.Second},
			},
			want: []Change{online("alice")},
		},
		{
			name: "disconnect of one of two devices is not a change",
			steps: []step{
				{user: "alice", dev: "phone", gen: "p"},
				{user: "alice", dev: "laptop", gen: "l"},
				{disconnect: true, user: "alice", dev: "phone", gen: "p", at: time.Second},
			},
			want: []Change{online("alice")},
		},
		{
			name: "last device disconnect",
			steps: []step{
				{user: "alice", dev: "phone", gen: "p"},
				{user: "alice", dev: "laptop", gen: "l"},
				{disconnect: true, user: "alice", dev: "phone", gen: "p", at: time.Second},
				{disconnect: true, user: "alice", dev: "laptop", gen: "l", at: 2 * time.Second},
			},
			want: []Change{online("alice"), offline("alice", 2*time.Second)},
		},
		{
			name: "reconnect then disconnect with the current generation",
			steps: []step{
				{user: "alice", dev: "phone", gen: "old"},
				{user: "alice", dev: "phone", gen: "new", at: time.Second},
				{disconnect: true, user: "alice", dev: "phone", gen: "old", at: 2 * time.Second},
				{disconnect: true, user: "alice", dev: "phone", gen: "new", at: 3 * time.Second},
			},
			want: []Change{online("alice"), offline("alice", 3*time.Second)},
		},
		{
			name: "offline then online again",
			steps: []step{
				{user: "alice", dev: "phone", gen: "a"},
				{disconnect: true, user: "alice", dev: "phone", gen: "a", at: time.Second},
				{user: "alice", dev: "phone", gen: "b", at: 2 * time.Second},
			},
			want: []Change{online("alice"), offline("alice", time.Second), online("alice")},
		},
		{
			name: "unknown device or user",
			steps: []step{
				{user: "alice", dev: "phone", gen: "p"},
				{disconnect: true, user: "alice", dev: "tablet", gen: "p"},
				{disconnect: true, user: "bob", dev: "phone", gen: "p"},
			},
			want: []Change{online("alice")},
		},
		{
			name: "users are independent",
			steps: []step{
				{user: "alice", dev: "phone", gen: "a"},
				{user: "bob", dev: "phone", gen: "b"},
				{disconnect: true, user: "alice", dev: "phone", gen: "a", at: time.Second},
				{disconnect: true, user: "bob", dev: "phone", gen: "b", at: 2 * time.Second},
			},
			want: []Change{online("alice"), online("bob"), offline("alice", time.Second), offline("bob", 2*time.Second)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var now time.Time
			var got []Change
			tr := NewTracker(Config{
				OnChange: func(c Change) { got = append(got, c) },
				Now:      func() time.Time { return now },
			})
			gens := map[string]uint64{}
			for _, s := range tt.steps {
				now = t0.Add(s.at)
				if s.disconnect {
					tr.Disconnect(s.user, s.dev, gens[s.gen])
				} else {
					gens[s.gen] = tr.Connect(s.user, Device{ID: s.dev})
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("changes:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// With the zero Config, New and NewTracker must not need a callback or clock.
func TestNewTrackerZeroConfig(t *testing.T) {
	for name, tr := range map[string]*Tracker{"New": New(), "NewTracker": NewTracker(Config{})} {
		g := tr.Connect("alice", Device{ID: "phone"})
		if !tr.Disconnect("alice", "phone", g) || tr.Count() != 0 {
			t.Errorf("%s: connect/disconnect round trip failed", name)
		}
	}
}

// Devices lists a user's devices oldest connection first, and a reconnect
// moves a device to the end.
func TestDevicesConnectOrder(t *testing.T) {
	tr := New()
	tr.Connect("alice", Device{ID: "a"})
	gb := tr.Connect("alice", Device{ID: "b"})
	tr.Connect("alice", Device{ID: "c"})
	tr.Connect("alice", Device{ID: "a"})
	tr.Disconnect("alice", "b", gb)
	tr.Connect("alice", Device{ID: "d"})
	var got []string
	for _, d := range tr.Devices(nil, "alice") {
		got = append(got, d.ID)
	}
	if fmt.Sprint(got) != "[c a d]" {
		t.Fatalf("Devices order = %v, want [c a d]", got)
	}
}

// Every user's changes must alternate online, offline, ... under concurrent
// use. OnChange appends without its own lock: the Tracker's lock serializes
// the calls, and the race detector checks that claim.
func TestChangesConcurrent(t *testing.T) {
	var changes []Change
	tr := NewTracker(Config{OnChange: func(c Change) { changes = append(changes, c) }})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				// Two goroutines share each user, so devices of one user
				// come and go concurrently.
				user := fmt.Sprint("u", g%4)
				dev := fmt.Sprint("d", g, "-", i%3)
				old := tr.Connect(user, Device{ID: dev})
				cur := tr.Connect(user, Device{ID: dev, Platform: "web"}) // replaces old
				tr.OverLimit(user, dev, DefaultLimits())
				tr.Disconnect(user, dev, old)
				tr.Disconnect(user, dev, cur)
			}
		}(g)
	}
	wg.Wait()
	if tr.Count() != 0 {
		t.Fatalf("Count = %d, want 0", tr.Count())
	}
	online := map[string]bool{}
	for i, c := range changes {
		if c.Online == online[c.User] {
			t.Fatalf("change %d %+v repeats the user's state", i, c)
		}
		if c.Online != c.LastSeen.IsZero() {
			t.Fatalf("change %d %+v: LastSeen must be set exactly when offline", i, c)
		}
		online[c.User] = c.Online
	}
	for u, on := range online {
		if on {
			t.Errorf("%s's last change is online, but it has no devices", u)
		}
	}
}
