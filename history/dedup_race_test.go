package history

import (
	"context"
	"strconv"
	"sync"
	"testing"
)

// Retries of one client id racing each other and the original, across
// many group commits, store the message once: the caller-side dedup
// lookup must never let a second copy through.
func TestConcurrentRetriesStoreOnce(t *testing.T) {
	s, _ := newStore(t, Config{})
	const ids, retries = 40, 16
	var wg sync.WaitGroup
	acks := make([][]Ack, ids)
	for i := range ids {
		acks[i] = make([]Ack, retries)
		for r := range retries {
			wg.Go(func() {
				a, err := s.Append(context.Background(), AppendRequest{
					From: "alice", Device: "phone", ClientID: "c" + strconv.Itoa(i), To: "bob", Body: []byte(`{"i":` + strconv.Itoa(i) + `}`),
				})
				if err != nil {
					t.Error(err)
				}
				acks[i][r] = a
			})
		}
	}
	wg.Wait()
	for i, as := range acks {
		originals := 0
		for _, a := range as {
			if !a.Duplicate {
				originals++
			}
			if a.ID != as[0].ID || a.Seq != as[0].Seq {
				t.Fatalf("cid %d: acks disagree: %+v vs %+v", i, a, as[0])
			}
		}
		if originals != 1 {
			t.Fatalf("cid %d stored %d times", i, originals)
		}
	}
	if head, _ := s.InboxHead("bob"); head != ids {
		t.Fatalf("bob's inbox has %d entries, want %d", head, ids)
	}
}
