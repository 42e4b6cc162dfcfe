package offlinepush

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// memKV is an in-memory KV for the policy and queue tests; the end-to-end
// tests in chat run the same Service on the real store.
type memKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMemKV() *memKV { return &memKV{m: make(map[string][]byte)} }

func (kv *memKV) Get(k []byte) ([]byte, bool, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	v, ok := kv.m[string(k)]
	return bytes.Clone(v), ok, nil
}

func (kv *memKV) Scan(p []byte, fn func(k, v []byte) error) error {
	kv.mu.Lock()
	var keys []string
	for k := range kv.m {
		if strings.HasPrefix(k, string(p)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = kv.m[k]
	}
	kv.mu.Unlock()
	for i, k := range keys {
		if err := fn([]byte(k), vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func (kv *memKV) Apply(_ context.Context, ops ...Op) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	for _, op := range ops {
		if op.Delete {
			delete(kv.m, string(op.Key))
		} else {
			kv.m[string(op.Key)] = bytes.Clone(op.Value)
		}
	}
	return nil
}

// facts is a settable Facts.
type facts struct {
	mu      sync.Mutex
	devices map[string][]DeviceInfo
	cursors map[string]uint64 // user/device
	unread  int
	groups  map[string]string
}

func newFacts() *facts {
	return &facts{devices: map[string][]DeviceInfo{}, cursors: map[string]uint64{}, groups: map[string]string{}}
}

func (f *facts) Devices(user string) ([]DeviceInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]DeviceInfo(nil), f.devices[user]...), nil
}

func (f *facts) Cursor(user, device string) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cursors[user+"/"+device], nil
}

func (f *facts) Unread(string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unread, nil
}

func (f *facts) ConvName(conv string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.groups[conv]
}

// recVendor records what it sends; fail answers chosen tokens with errors,
// one per call, in order.
type recVendor struct {
	name string
	mu   sync.Mutex
	sent []Notification
	fail map[string][]error
}

func (v *recVendor) Name() string { return v.name }

func (v *recVendor) Send(_ context.Context, n *Notification) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if errs := v.fail[n.Token]; len(errs) > 0 {
		v.fail[n.Token] = errs[1:]
		return errs[0]
	}
	v.sent = append(v.sent, *n)
	return nil
}

func (v *recVendor) sentTo(token string) []Notification {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []Notification
	for _, n := range v.sent {
		if n.Token == token {
			out = append(out, n)
		}
	}
	return out
}

type fixture struct {
	t     *testing.T
	kv    *memKV
	facts *facts
	v     *recVendor
	s     *Service
	cfg   Config
}

func newFixture(t *testing.T, adjust func(*Config)) *fixture {
	f := &fixture{t: t, kv: newMemKV(), facts: newFacts(), v: &recVendor{name: "fcm", fail: map[string][]error{}}}
	f.cfg = Config{KV: f.kv, Facts: f.facts, Vendors: []Vendor{f.v}, Grace: time.Millisecond, MinBackoff: 5 * time.Millisecond, QuotaBackoff: 10 * time.Millisecond}
	if adjust != nil {
		adjust(&f.cfg)
	}
	f.start()
	return f
}

func (f *fixture) start() {
	s, err := New(f.cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	s.Start()
	f.s = s
	f.t.Cleanup(func() { s.Close(context.Background()) })
}

func (f *fixture) register(user, device, token string) {
	f.t.Helper()
	if err := f.s.Register(context.Background(), Binding{User: user, Device: device, Vendor: "fcm", Token: token, Platform: "android"}); err != nil {
		f.t.Fatal(err)
	}
	f.facts.mu.Lock()
	defer f.facts.mu.Unlock()
	for _, d := range f.facts.devices[user] {
		if d.ID == device {
			return
		}
	}
	f.facts.devices[user] = append(f.facts.devices[user], DeviceInfo{ID: device})
}

func (f *fixture) online(user, device string, on bool) {
	f.facts.mu.Lock()
	defer f.facts.mu.Unlock()
	devs := f.facts.devices[user]
	for i := range devs {
		if devs[i].ID == device {
			devs[i].Online = on
			return
		}
	}
	f.facts.devices[user] = append(devs, DeviceInfo{ID: device, Online: on})
}

var msgIDs uint64 = 100

// send hands a message from alice to user (pts 1) and waits until every
// device of user has a final outcome.
func (f *fixture) send(user, conv, body string) map[string]Outcome {
	f.t.Helper()
	msgIDs++
	id := msgIDs
	f.s.Handle([]Message{{ID: id, Conv: conv, Seq: 1, From: "alice", Time: time.Now().UnixMilli(), Body: []byte(body), Recipients: []Recipient{{User: user, Pts: 1}}}})
	return f.outcomes(id, func(o Outcome) bool { return o.Status != StatusQueued })
}

// outcomes waits until every outcome of id satisfies final.
func (f *fixture) outcomes(id uint64, final func(Outcome) bool) map[string]Outcome {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		os, err := f.s.Outcomes(id)
		if err != nil {
			f.t.Fatal(err)
		}
		done := len(os) > 0
		out := make(map[string]Outcome)
		for _, o := range os {
			done = done && final(o)
			out[o.Device] = o
		}
		if done {
			return out
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("outcomes of %d did not settle: %+v", id, os)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func brief(os map[string]Outcome) string {
	var parts []string
	for d, o := range os {
		parts = append(parts, d+"="+o.Status+":"+o.Reason)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func TestAllAndAnyOfflinePolicies(t *testing.T) {
	for _, tc := range []struct {
		when string
		want string
	}{
		{PushAllOffline, "desk=not_pushed:online phone=not_pushed:policy tablet=not_pushed:policy"},
		{PushAnyOffline, "desk=not_pushed:online phone=pushed: tablet=pushed:"},
	} {
		t.Run(tc.when, func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.PushWhen = tc.when })
			f.register("bob", "phone", "T1")
			f.register("bob", "tablet", "T2")
			f.online("bob", "desk", true)
			if got := brief(f.send("bob", "d:alice:bob", `{"text":"hi"}`)); got != tc.want {
				t.Fatalf("outcomes: %s, want %s", got, tc.want)
			}
			// All offline: both pushed under either policy.
			f.online("bob", "desk", false)
			if got := brief(f.send("bob", "d:alice:bob", `{"text":"hi"}`)); got != "desk=not_pushed:no_token phone=pushed: tablet=pushed:" {
				t.Fatalf("all offline: %s", got)
			}
		})
	}
}

func TestDeliveredLiveWithinGraceIsNotPushed(t *testing.T) {
	f := newFixture(t, nil)
	f.register("bob", "phone", "T1")
	f.facts.cursors["bob/phone"] = 1 // it got pts 1 live, as it reconnected
	if got := brief(f.send("bob", "d:alice:bob", `{"text":"hi"}`)); got != "phone=delivered:" {
		t.Fatalf("outcomes: %s", got)
	}
	if n := len(f.v.sentTo("T1")); n != 0 {
		t.Fatalf("%d pushes to a device that had it", n)
	}
}

func TestDNDQuietHoursMuteAndMention(t *testing.T) {
	base := time.Date(2026, 11, 23, 23, 30, 0, 0, time.UTC) // 00:30 in Paris
	start := time.Now()
	f := newFixture(t, func(c *Config) { c.Now = func() time.Time { return base.Add(time.Since(start)) } })
	f.register("bob", "phone", "T1")
	ctx := context.Background()
	set := func(st Settings) {
		if _, err := f.s.SetSettings(ctx, "bob", st); err != nil {
			t.Fatal(err)
		}
	}
	set(Settings{QuietStart: "23:00", QuietEnd: "07:00", TimeZone: "Europe/Paris"})
	if got := brief(f.send("bob", "d:alice:bob", `{"text":"late"}`)); got != "phone=not_pushed:dnd" {
		t.Fatalf("quiet hours: %s", got)
	}
	set(Settings{QuietStart: "08:00", QuietEnd: "09:00", TimeZone: "Europe/Paris"})
	if got := brief(f.send("bob", "d:alice:bob", `{"text":"ok"}`)); got != "phone=pushed:" {
		t.Fatalf("outside quiet hours: %s", got)
	}
	// A muted group is not pushed, unless bob is mentioned.
	f.facts.groups["g:team"] = "Team"
	if err := f.s.SetMute(ctx, "bob", "g:team", true, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := brief(f.send("bob", "g:team", `{"text":"lunch?"}`)); got != "phone=not_pushed:muted" {
		t.Fatalf("muted: %s", got)
	}
	if got := brief(f.send("bob", "g:team", `{"text":"@bob lunch?","mentions":["bob"]}`)); got != "phone=pushed:" {
		t.Fatalf("mentioned in a muted group: %s", got)
	}
	last := f.v.sentTo("T1")
	if n := last[len(last)-1]; n.Title != "Team" || n.Body != "alice mentioned you: @bob lunch?" {
		t.Fatalf("mention push = %q / %q", n.Title, n.Body)
	}
	// DND wins over a mention; with Silent the push goes, silently.
	set(Settings{DND: true})
	if got := brief(f.send("bob", "g:team", `{"text":"x","mentions":["bob"]}`)); got != "phone=not_pushed:dnd" {
		t.Fatalf("DND with a mention: %s", got)
	}
	set(Settings{DND: true, Silent: true})
	if got := brief(f.send("bob", "d:alice:bob", `{"text":"psst"}`)); got != "phone=pushed:" {
		t.Fatalf("silent DND: %s", got)
	}
	if n := f.v.sentTo("T1"); !n[len(n)-1].Silent || n[len(n)-1].Title != "" || n[len(n)-1].Badge == nil {
		t.Fatalf("silent push = %+v", n[len(n)-1])
	}
	if _, err := f.s.SetSettings(ctx, "bob", Settings{QuietStart: "25:00", QuietEnd: "07:00"}); err == nil {
		t.Fatal("quiet hours of 25:00 accepted")
	}
}

func TestTemplatesDisplayModesBadgeAndCollapse(t *testing.T) {
	f := newFixture(t, nil)
	f.register("bob", "phone", "T1")
	f.facts.unread = 7
	ctx := context.Background()
	f.send("bob", "d:alice:bob", `{"text":"see you at eight"}`)
	n := f.v.sentTo("T1")[0]
	if n.Title != "alice" || n.Body != "see you at eight" || *n.Badge != 7 || n.CollapseKey != "d:alice:bob" ||
		n.Data["conv"] != "d:alice:bob" || n.Data["seq"] != "1" || n.Silent || !n.High {
		t.Fatalf("full push = %+v", n)
	}
	f.s.SetSettings(ctx, "bob", Settings{Display: DisplaySummary, Locale: "zh"})
	f.send("bob", "d:alice:bob", `{"text":"secret"}`)
	if n := f.v.sentTo("T1")[1]; n.Title != "新消息" || strings.Contains(n.Body, "secret") {
		t.Fatalf("summary push = %+v", n)
	}
	f.s.SetSettings(ctx, "bob", Settings{Display: DisplayHidden})
	f.send("bob", "d:alice:bob", `{"text":"secret"}`)
	if n := f.v.sentTo("T1")[2]; !n.Silent || n.Title != "" || n.Body != "" || n.Data["msg_id"] == "" {
		t.Fatalf("hidden push = %+v", n)
	}
}

func TestTokenBindingsAndUnbind(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.register("alice2", "phone", "SHARED")
	f.register("bob", "phone", "SHARED") // bob logs in on the same phone: the token moves
	if f.s.HasTokens("alice2") || !f.s.HasTokens("bob") {
		t.Fatal("the token did not move to the last bind")
	}
	f.register("bob", "phone", "NEW") // the device's token of the vendor is replaced
	if bs := f.s.Bindings("bob"); len(bs) != 1 || bs[0].Token != "NEW" {
		t.Fatalf("bob's bindings = %+v", bs)
	}
	f.register("bob", "tablet", "T2")
	if err := f.s.Unbind(ctx, "bob", "tablet", GoneKicked); err != nil {
		t.Fatal(err)
	}
	if got := brief(f.send("bob", "d:alice:bob", `{}`)); got != "phone=pushed: tablet=not_pushed:kicked" {
		t.Fatalf("after a kick: %s", got)
	}
	// The registry is durable: a new Service on the same KV has it.
	f.s.Close(ctx)
	f.start()
	if bs := f.s.Bindings("bob"); len(bs) != 1 || bs[0].Token != "NEW" || f.s.reg.goneReason("bob", "tablet") != GoneKicked {
		t.Fatalf("after a restart: %+v", bs)
	}
	if err := f.s.Register(ctx, Binding{User: "bob", Device: "x", Vendor: "nope", Token: "t"}); err == nil {
		t.Fatal("a token of an unconfigured vendor was accepted")
	}
}

func TestQueueRetriesRemovesTokensAndGivesUp(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxAttempts = 3 })
	f.register("bob", "phone", "RETRY")
	f.register("carol", "phone", "GONE")
	f.register("dave", "phone", "BAD")
	f.register("erin", "phone", "DOWN")
	f.v.fail["RETRY"] = []error{&Error{Vendor: "fcm", Kind: KindRetry, Status: 503}, &Error{Vendor: "fcm", Kind: KindQuota, Status: 429, RetryAfter: 20 * time.Millisecond}}
	f.v.fail["GONE"] = []error{&Error{Vendor: "fcm", Kind: KindTokenInvalid, Status: 404, Code: "UNREGISTERED"}}
	f.v.fail["BAD"] = []error{&Error{Vendor: "fcm", Kind: KindPayload, Status: 400, Code: "INVALID_ARGUMENT"}}
	down := &Error{Vendor: "fcm", Kind: KindRetry, Status: 500}
	f.v.fail["DOWN"] = []error{down, down, down, down}

	start := time.Now()
	if o := f.send("bob", "d:alice:bob", `{}`)["phone"]; o.Status != StatusPushed || o.Attempts != 3 {
		t.Fatalf("retried push: %+v", o)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("Retry-After was not honoured")
	}
	if o := f.send("carol", "d:alice:carol", `{}`)["phone"]; o.Status != StatusFailed || !o.TokenRemoved || f.s.HasTokens("carol") {
		t.Fatalf("unregistered token: %+v", o)
	}
	if o := f.send("dave", "d:alice:dave", `{}`)["phone"]; o.Status != StatusFailed || o.TokenRemoved || !f.s.HasTokens("dave") {
		t.Fatalf("refused payload: %+v", o)
	}
	if o := f.send("erin", "d:alice:erin", `{}`)["phone"]; o.Status != StatusFailed || o.Attempts != 3 || !strings.HasPrefix(o.Reason, "gave up") {
		t.Fatalf("vendor down: %+v", o)
	}
}

// A restart in the middle of a backlog loses no push: queued jobs are in
// the KV and the next Service sends them.
func TestBacklogSurvivesRestart(t *testing.T) {
	f := newFixture(t, nil)
	for i := range 20 {
		f.register(fmt.Sprint("u", i), "phone", fmt.Sprint("T", i))
	}
	// The vendor is down when the messages come.
	for i := range 20 {
		f.v.fail[fmt.Sprint("T", i)] = []error{&Error{Vendor: "fcm", Kind: KindRetry, Status: 503, RetryAfter: time.Hour}}
	}
	var ids []uint64
	for i := range 20 {
		msgIDs++
		ids = append(ids, msgIDs)
		f.s.Handle([]Message{{ID: msgIDs, Conv: "c", Seq: 1, From: "alice", Recipients: []Recipient{{User: fmt.Sprint("u", i), Pts: 1}}}})
	}
	for _, id := range ids {
		f.outcomes(id, func(o Outcome) bool { return o.Attempts == 1 })
	}
	f.s.Close(context.Background())
	// The backlog is due in an hour; a restart with the clock moved on sends all of it.
	f.cfg.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	f.start()
	for _, id := range ids {
		f.outcomes(id, func(o Outcome) bool { return o.Status == StatusPushed })
	}
	if n := len(f.v.sent); n != 20 {
		t.Fatalf("%d pushes after the restart, want 20", n)
	}
}

// OnOutcome hears every recorded step of a push, in order, once it is
// recorded: the decision, each retry and the final answer.
func TestOnOutcomeHearsEachStep(t *testing.T) {
	var mu sync.Mutex
	var heard []Outcome
	f := newFixture(t, func(c *Config) {
		c.OnOutcome = func(o Outcome) { mu.Lock(); heard = append(heard, o); mu.Unlock() }
	})
	f.register("bob", "phone", "RETRY")
	f.online("bob", "laptop", false)
	f.v.fail["RETRY"] = []error{&Error{Vendor: "fcm", Kind: KindRetry, Status: 503}}
	final := f.send("bob", "d:alice:bob", `{"text":"hi"}`)

	mu.Lock()
	defer mu.Unlock()
	var steps []string
	for _, o := range heard {
		if o.Device == "phone" {
			steps = append(steps, o.Status)
		}
		if o.Device == "laptop" && (o.Status != StatusNotPushed || o.Reason != ReasonNoToken) {
			t.Errorf("laptop: %+v, want not_pushed for no_token", o)
		}
	}
	if got, want := strings.Join(steps, ","), "queued,queued,pushed"; got != want {
		t.Fatalf("phone steps %s, want %s", got, want)
	}
	if last := heard[len(heard)-1]; last != final["phone"] {
		t.Fatalf("last heard %+v, stored %+v", last, final["phone"])
	}
}
