package history

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppendSync measures durable appends (each returns after its group
// commit's fsync) from 1, 16 and 256 concurrent senders among 100 users.
// msgs/batch is how many appends shared one commit on average.
func BenchmarkAppendSync(b *testing.B) {
	users := make([]string, 100)
	for i := range users {
		users[i] = "user" + strconv.Itoa(i)
	}
	body := []byte(`{"type":"text","text":"see you at the station at eight, bring the tickets"}`)
	for _, conc := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("senders=%d", conc), func(b *testing.B) {
			var batches atomic.Int64
			s, _ := newStore(b, Config{OnCommit: func([]Appended) { batches.Add(1) }})
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for g := range conc {
				wg.Go(func() {
					device := "dev" + strconv.Itoa(g)
					for {
						i := int(next.Add(1))
						if i > b.N {
							return
						}
						req := AppendRequest{
							From:     users[g%len(users)],
							Device:   device,
							ClientID: strconv.Itoa(i),
							To:       users[(g+i)%len(users)],
							Body:     body,
						}
						if _, err := s.Append(context.Background(), req); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			b.ReportMetric(float64(b.N)/float64(max(batches.Load(), 1)), "msgs/batch")
		})
	}
}

// BenchmarkReadInbox10k reads a whole inbox of 10,000 entries in pages of
// 1,000, as a device resyncing from scratch would.
func BenchmarkReadInbox10k(b *testing.B) {
	const total, page = 10_000, 1_000
	s, _ := newStore(b, Config{})
	sendMany(b, s, "alice", "bob", total)
	for b.Loop() {
		var after uint64
		n := 0
		for {
			entries, err := s.ReadInbox("bob", after, page)
			if err != nil {
				b.Fatal(err)
			}
			if len(entries) == 0 {
				break
			}
			n += len(entries)
			after = entries[len(entries)-1].Pts
		}
		if n != total {
			b.Fatalf("read %d entries, want %d", n, total)
		}
	}
	b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkGroupAppend measures durable appends to a 500-member group
// (write fan-out: an inbox entry per member) from 16 concurrent senders.
// entries/s counts inbox entries written.
func BenchmarkGroupAppend(b *testing.B) {
	const members, senders = 500, 16
	s, _ := newStore(b, Config{})
	users := make([]string, members-1)
	for i := range users {
		users[i] = "member" + strconv.Itoa(i)
	}
	req := GroupRequest{From: "owner", Device: "d", ClientID: "create", Conv: "g:bench", Name: "bench", Users: users}
	if _, err := s.CreateGroup(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"type":"text","text":"see you at the station at eight, bring the tickets"}`)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := range senders {
		wg.Go(func() {
			from := users[g]
			for {
				i := int(next.Add(1))
				if i > b.N {
					return
				}
				req := AppendRequest{From: from, Device: "d", ClientID: strconv.Itoa(i), Conv: "g:bench", Body: body}
				if _, err := s.Append(context.Background(), req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N*members)/elapsed.Seconds(), "entries/s")
}
