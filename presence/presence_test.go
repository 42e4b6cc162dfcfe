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
