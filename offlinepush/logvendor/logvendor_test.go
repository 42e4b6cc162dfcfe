package logvendor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func send(tb testing.TB, v *Vendor, n offlinepush.Notification) {
	tb.Helper()
	if err := v.Send(context.Background(), &n); err != nil {
		tb.Fatalf("Send(%s): %v", n.Token, err)
	}
}

func intp(n int) *int { return &n }

func TestSendRecordsEveryField(t *testing.T) {
	v := New(Config{Now: func() time.Time { return t0 }})
	n := offlinepush.Notification{
		Token: "tok", Platform: "android", Credential: "app2", Title: "Ann", Body: "hi",
		Data: map[string]string{"conv": "c1", "seq": "4", "msg_id": "m"}, Badge: intp(2),
		CollapseKey: "conv:c1", Silent: true, Sound: "ping", TTL: time.Minute, High: true,
	}
	send(t, v, n)
	want := Record{
		Seq: 1, Time: t0, Token: "tok", Platform: "android", Credential: "app2", Title: "Ann", Body: "hi",
		Data: map[string]string{"conv": "c1", "seq": "4", "msg_id": "m"}, Badge: intp(2),
		CollapseKey: "conv:c1", Silent: true, Sound: "ping", TTL: time.Minute, High: true,
	}
	if got := v.All(); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("All() = %+v\nwant [%+v]", got, want)
	}
	if v.Name() != "log" {
		t.Errorf("Name() = %q", v.Name())
	}

	// Neither the sender's later changes nor a reader's reach the store.
	n.Data["conv"] = "changed"
	*n.Badge = 99
	got := v.Recent("tok", 1)
	got[0].Data["seq"] = "changed"
	*got[0].Badge = 98
	if again := v.All(); !reflect.DeepEqual(again[0], want) {
		t.Errorf("stored record changed through a copy: %+v", again[0])
	}
}

func TestMaxDropsOldest(t *testing.T) {
	v := New(Config{Max: 3})
	for i := 1; i <= 7; i++ {
		send(t, v, offlinepush.Notification{Token: fmt.Sprint("t", i%2), Body: fmt.Sprint(i)})
	}
	var bodies []string
	var seqs []uint64
	for _, r := range v.All() {
		bodies = append(bodies, r.Body)
		seqs = append(seqs, r.Seq)
	}
	if !reflect.DeepEqual(bodies, []string{"5", "6", "7"}) || !reflect.DeepEqual(seqs, []uint64{5, 6, 7}) {
		t.Errorf("All() bodies %v seqs %v, want the last three, oldest first", bodies, seqs)
	}
	if d := New(Config{}); d.max != DefaultMax {
		t.Errorf("default Max %d", d.max)
	}
}

func TestRecent(t *testing.T) {
	v := New(Config{Max: 10})
	for i := 1; i <= 14; i++ {
		tok := "a"
		if i%3 == 0 {
			tok = "b"
		}
		send(t, v, offlinepush.Notification{Token: tok, Body: fmt.Sprint(i)})
	}
	// Kept: 5..14; b's are 6, 9, 12.
	tests := []struct {
		token string
		n     int
		want  []string
	}{
		{"b", 2, []string{"9", "12"}},
		{"b", 0, []string{"6", "9", "12"}},
		{"b", 10, []string{"6", "9", "12"}},
		{"a", 3, []string{"11", "13", "14"}},
		{"c", 5, nil},
	}
	for _, tt := range tests {
		var got []string
		for _, r := range v.Recent(tt.token, tt.n) {
			got = append(got, r.Body)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Recent(%q, %d) = %v, want %v", tt.token, tt.n, got, tt.want)
		}
	}
}

func TestFail(t *testing.T) {
	v := New(Config{Fail: map[string]offlinepush.ErrorKind{
		"gone":  offlinepush.KindTokenInvalid,
		"flaky": offlinepush.KindRetry,
	}})
	for tok, kind := range map[string]offlinepush.ErrorKind{"gone": offlinepush.KindTokenInvalid, "flaky": offlinepush.KindRetry} {
		err := v.Send(context.Background(), &offlinepush.Notification{Token: tok})
		var e *offlinepush.Error
		if !errors.As(err, &e) || e.Kind != kind || e.Vendor != "log" {
			t.Errorf("Send(%s) = %v, want a %v *offlinepush.Error", tok, err, kind)
		}
	}
	if got := v.All(); len(got) != 0 {
		t.Errorf("failed sends were recorded: %v", got)
	}

	v.SetFail("flaky", 0)
	v.SetFail("ok", offlinepush.KindQuota)
	send(t, v, offlinepush.Notification{Token: "flaky"})
	if k := offlinepush.KindOf(v.Send(context.Background(), &offlinepush.Notification{Token: "ok"})); k != offlinepush.KindQuota {
		t.Errorf("after SetFail: kind %v, want quota", k)
	}
	if got := v.Recent("flaky", 0); len(got) != 1 {
		t.Errorf("cleared failure: %d records", len(got))
	}
}

func TestConfigFailIsCopied(t *testing.T) {
	fail := map[string]offlinepush.ErrorKind{"x": offlinepush.KindAuth}
	v := New(Config{Fail: fail})
	delete(fail, "x")
	if k := offlinepush.KindOf(v.Send(context.Background(), &offlinepush.Notification{Token: "x"})); k != offlinepush.KindAuth {
		t.Errorf("kind %v: New did not copy Config.Fail", k)
	}
}

func TestCanceledContext(t *testing.T) {
	v := New(Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := v.Send(ctx, &offlinepush.Notification{Token: "t"})
	if offlinepush.KindOf(err) != offlinepush.KindRetry || !errors.Is(err, context.Canceled) {
		t.Errorf("Send = %v, want retry wrapping context.Canceled", err)
	}
	if len(v.All()) != 0 {
		t.Error("recorded a push for a done context")
	}
}

func TestOnSendAfterRecordingOutsideTheLock(t *testing.T) {
	var v *Vendor
	var seen []Record
	var inStore []int
	v = New(Config{OnSend: func(r Record) {
		seen = append(seen, r)
		inStore = append(inStore, len(v.Recent(r.Token, 0))) // would deadlock under the lock
		r.Data["k"] = "changed by the hook"
	}})
	send(t, v, offlinepush.Notification{Token: "t", Body: "1", Data: map[string]string{"k": "v"}})
	send(t, v, offlinepush.Notification{Token: "t", Body: "2", Data: map[string]string{"k": "v"}})
	if len(seen) != 2 || seen[0].Body != "1" || seen[1].Seq != 2 {
		t.Fatalf("OnSend saw %+v", seen)
	}
	if !reflect.DeepEqual(inStore, []int{1, 2}) {
		t.Errorf("records in store when OnSend ran: %v, want [1 2]", inStore)
	}
	if got := v.All()[0].Data["k"]; got != "v" {
		t.Errorf("hook changed the stored record: %q", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	events := make(chan Record, 1000)
	v := New(Config{Max: 50, OnSend: func(r Record) {
		select {
		case events <- r:
		default:
		}
	}})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				tok := fmt.Sprint("t", g)
				if i%10 == 0 {
					v.SetFail(tok, offlinepush.KindRetry)
				}
				v.SetFail(tok, 0)
				v.Send(context.Background(), &offlinepush.Notification{Token: tok, Data: map[string]string{"i": fmt.Sprint(i)}})
				v.Recent(tok, 5)
				v.All()
			}
		}()
	}
	wg.Wait()
	all := v.All()
	if len(all) != 50 {
		t.Fatalf("kept %d records, want 50", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq != all[i-1].Seq+1 {
			t.Fatalf("records out of order at %d: seq %d after %d", i, all[i].Seq, all[i-1].Seq)
		}
	}
	if all[len(all)-1].Seq != 800 || len(events) != 800 {
		t.Errorf("last seq %d, %d events; want 800 of each", all[len(all)-1].Seq, len(events))
	}
}
