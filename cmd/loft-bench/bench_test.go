package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/offlinepush"
	"github.com/loftchat/loft/offlinepush/webhook"
)

const testSecret = "loft-bench-test-secret-0123456789abcdef"

// startServer runs a real chat server over a real store in a temp dir, in
// this process (its pid stands in for the server's).
func startServer(t *testing.T) string {
	t.Helper()
	return startServerConfig(t, history.Config{})
}

// startServerConfig is startServer with a store configured as cfg.
func startServerConfig(t *testing.T, cfg history.Config) string {
	t.Helper()
	var srv *chat.Server
	cfg.OnCommit = func(b []history.Appended) { srv.Committed(b) }
	store, err := history.Open(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := chat.NewJWTVerifier(chat.TokenConfig{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err = chat.New(chat.Config{Store: store, Auth: auth, RateLimit: 1e9})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/ws", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		srv.Close(context.Background())
		store.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/v1/ws"
}

type jsonResult struct {
	Scenario string             `json:"scenario"`
	Metrics  map[string]float64 `json:"metrics"`
	Errors   []string           `json:"errors"`
}

// runTool runs loft-bench with args against the test server and returns
// its JSON results by scenario.
func runTool(t *testing.T, url string, args ...string) map[string]jsonResult {
	t.Helper()
	return runArgs(t, append([]string{"--url", url, "--secret", testSecret, "--server-pid", strconv.Itoa(os.Getpid())}, args...))
}

// runArgs runs loft-bench with args and --json --quiet and returns its
// results by scenario.
func runArgs(t *testing.T, args []string) map[string]jsonResult {
	t.Helper()
	var out, errOut bytes.Buffer
	all := append([]string{"--json", "--quiet"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, all, &out, &errOut); err != nil {
		t.Fatalf("loft-bench %v: %v\n%s\n%s", args, err, out.String(), errOut.String())
	}
	var doc struct{ Results []jsonResult }
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	byName := map[string]jsonResult{}
	for _, r := range doc.Results {
		if len(r.Errors) > 0 {
			t.Errorf("%s reported problems: %v", r.Scenario, r.Errors)
		}
		byName[r.Scenario] = r
	}
	return byName
}

// The pairs scenarios deliver every acked message exactly once (the tool
// checks each receiver's pts run) and report their figures; direct is
// given as a ratio of the ceiling relay's throughput.
func TestPairsScenarios(t *testing.T) {
	url := startServer(t)
	res := runTool(t, url, "--pairs", "4", "--window", "4", "--duration", "1s", "--rate", "200", "direct", "latency", "ceiling")
	for _, name := range []string{"direct", "latency", "ceiling"} {
		m := res[name].Metrics
		if m["sent"] == 0 || m["acked"] != m["sent"] || m["delivered"] != m["acked"] {
			t.Errorf("%s: sent %v, acked %v, delivered %v; want all equal and nonzero", name, m["sent"], m["acked"], m["delivered"])
		}
		if m["delivered_per_s"] <= 0 || m["server_cpu"] <= 0 {
			t.Errorf("%s: throughput %v, server cpu %v", name, m["delivered_per_s"], m["server_cpu"])
		}
	}
	lat := res["latency"].Metrics
	if lat["send_to_receive_p50"] <= 0 || lat["send_to_receive_p99"] < lat["send_to_receive_p50"] || lat["send_to_ack_p99"] <= 0 {
		t.Errorf("latency percentiles missing or out of order: %v", lat)
	}
	// 4 senders at 200 msg/s in all for 1 s, after a 250 ms warmup.
	if got := lat["delivered_per_s"]; got < 100 || got > 300 {
		t.Errorf("latency ran at %v msg/s, want about 200", got)
	}
	if r := res["direct"].Metrics["ratio_to_ceiling"]; r <= 0 {
		t.Errorf("direct has no ratio to the ceiling: %v", r)
	}
}

func TestIdleAndReconnect(t *testing.T) {
	url := startServer(t)
	res := runTool(t, url, "--conns", "200", "--settle", "10ms", "--users", "60", "--missed", "7", "--pairs", "5", "idle", "reconnect")
	idle := res["idle"].Metrics
	if idle["connect_rate"] <= 0 || idle["server_rss_after"] <= 0 {
		t.Errorf("idle: %v", idle)
	}
	rc := res["reconnect"].Metrics
	if rc["all_synced_after"] <= 0 || rc["sync_rate"] <= 0 {
		t.Errorf("reconnect: %v", rc)
	}
}

// The group scenario delivers every acked message to every member's device
// (the tool checks each one's pts and group seqs).
func TestGroup(t *testing.T) {
	url := startServer(t)
	const members = 20
	res := runTool(t, url, "--members", strconv.Itoa(members), "--senders", "3", "--window", "4", "--duration", "1s", "group")
	g := res["group"].Metrics
	if g["sent"] == 0 || g["acked"] != g["sent"] || g["delivered"] != members*g["acked"] {
		t.Errorf("group: sent %v, acked %v, delivered %v; want acked = sent > 0 and delivered = %d x acked", g["sent"], g["acked"], g["delivered"], members)
	}
	if g["delivered_per_s"] <= 0 || g["acked_per_s"] <= 0 || g["server_cpu"] <= 0 || g["deliveries_per_server_cpu_s"] <= 0 {
		t.Errorf("group: %v", g)
	}
}

// A group over the server's write fan-out limit gets group_seq frames, not
// entries: the tool says which server flag to raise.
func TestGroupReadFanout(t *testing.T) {
	url := startServerConfig(t, history.Config{FanoutLimit: 5})
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"--url", url, "--secret", testSecret, "--json", "--quiet",
		"--members", "8", "--senders", "1", "--duration", "5s", "group"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--group-fanout") {
		t.Errorf("err = %v, want one naming --group-fanout", err)
	}
}

func TestGroupChunks(t *testing.T) {
	users := func(n int) []string {
		u := make([]string, n)
		for i := range u {
			u[i] = "u" + strconv.Itoa(1000+i) // 5 bytes: 8 quoted, with a comma
		}
		return u
	}
	for _, tc := range []struct {
		n, maxUsers, maxBytes int
		want                  []int
	}{
		{0, 1000, 1 << 14, []int{0}},
		{499, 1000, 1 << 14, []int{499}},
		{2500, 1000, 1 << 20, []int{1000, 1000, 500}},
		{25, 1000, 80, []int{10, 10, 5}},
	} {
		var got []int
		for _, c := range groupChunks(users(tc.n), tc.maxUsers, tc.maxBytes) {
			got = append(got, len(c))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%d users, %d per frame, %d bytes: chunks %v, want %v", tc.n, tc.maxUsers, tc.maxBytes, got, tc.want)
		}
	}
}

// The group reader counts bench entries by their group seq, skips the
// setup's events, and reports gaps.
func TestGroupEntry(t *testing.T) {
	g := &groupLoad{res: &result{}, conv: "g:abc", convKey: []byte(`"conv":"g:abc"`)}
	g.base.Store(1)
	m := &member{user: "m0"}
	f := []byte(`{"type":"messages","messages":[` +
		`{"pts":1,"id":1,"conv":"g:abc","seq":1,"from":"m0","device":"d","ts":5,"kind":"event","body":{"event":"created"}},` +
		`{"pts":2,"cid":"c0","id":2,"conv":"g:abc","seq":2,"from":"m0","device":"d","ts":6,"body":{"t":1,"p":"x"}},` +
		`{"pts":3,"id":3,"conv":"g:abc","seq":3,"from":"m1","device":"d","ts":7,"body":{"t":2,"p":"x"}}]}`)
	var bench int
	eachEntry(f, func(pts uint64, f []byte, at int) {
		if g.entry(m, pts, f[at:]) {
			bench++
		}
	})
	if bench != 2 || m.pts != 3 || m.nextSeq != 4 || len(g.res.Errors) != 0 {
		t.Errorf("bench %d, pts %d, next seq %d, errors %v", bench, m.pts, m.nextSeq, g.res.Errors)
	}
	gap := []byte(`{"type":"messages","messages":[{"pts":5,"id":5,"conv":"g:abc","seq":5,"from":"m1","device":"d","ts":8,"body":{"t":3}}]}`)
	eachEntry(gap, func(pts uint64, f []byte, at int) { g.entry(m, pts, f[at:]) })
	if len(g.res.Errors) != 1 {
		t.Errorf("a gap in pts and seq gave errors %v, want one", g.res.Errors)
	}
	if n, ok := errorID([]byte(`{"type":"error","id":"17","code":"x"}`)); !ok || n != 17 {
		t.Errorf("errorID = %d, %v", n, ok)
	}
	if _, ok := errorID([]byte(`{"type":"error","id":"g0","code":"x"}`)); ok {
		t.Error("errorID took a setup frame's id")
	}
}

// Catchup syncs exactly the missed entries (the tool checks them) and
// reports its times in order.
func TestCatchup(t *testing.T) {
	url := startServer(t)
	res := runTool(t, url, "--convs", "5", "--catchup-missed", "100", "--rounds", "2", "--settle", "10ms", "catchup")
	c := res["catchup"].Metrics
	if c["sync_time_min"] <= 0 || c["sync_time_median"] < c["sync_time_min"] || c["sync_time_max"] < c["sync_time_median"] ||
		c["sync_rate"] <= 0 || c["entries_per_server_cpu_s"] <= 0 {
		t.Errorf("catchup: %v", c)
	}
}

func TestParsers(t *testing.T) {
	f := []byte(`{"type":"messages","messages":[{"pts":7,"id":1,"body":{"t":123,"p":"x"}},{"pts":8,"id":2,"body":{"t":456}}]}`)
	var pts, ts []uint64
	eachEntry(f, func(p uint64, f []byte, at int) {
		pts = append(pts, p)
		ts = append(ts, jsonUint(f[at:], `"body":{"t":`))
	})
	if len(pts) != 2 || pts[0] != 7 || pts[1] != 8 || ts[0] != 123 || ts[1] != 456 {
		t.Errorf("entries: pts %v, t %v", pts, ts)
	}
	if n, ok := ackID([]byte(`{"type":"ack","id":"42","msg_id":9}`)); !ok || n != 42 {
		t.Errorf("ackID = %d, %v", n, ok)
	}
	if frameType([]byte(`{"type":"synced","id":"s","pts":3}`)) != "synced" || frameType([]byte(`[]`)) != "" {
		t.Error("frameType")
	}
	body := (&env{opt: options{Payload: 128}}).body(nil, 99)
	if len(body) != 128 || !json.Valid(body) {
		t.Errorf("body is %d bytes, valid %v: %s", len(body), json.Valid(body), body)
	}
}

// TestMain lets the test binary stand in for loft-bench when the ceiling
// scenario starts it as the relay (os.Executable is the test binary here).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "relay" {
		main()
		return
	}
	code := m.Run()
	if loftDir != "" {
		os.RemoveAll(loftDir)
	}
	os.Exit(code)
}

var (
	loftOnce sync.Once
	loftDir  string // removed by TestMain
	loftPath string
	loftErr  error
)

// loftBinary builds the server, ../loft, on first use and returns its path.
func loftBinary(tb testing.TB) string {
	tb.Helper()
	loftOnce.Do(func() {
		if loftDir, loftErr = os.MkdirTemp("", "loft-bench-bin-"); loftErr != nil {
			return
		}
		loftPath = filepath.Join(loftDir, "loft")
		if out, err := exec.Command("go", "build", "-o", loftPath, "../loft").CombinedOutput(); err != nil {
			loftErr = fmt.Errorf("go build ../loft: %v\n%s", err, out)
		}
	})
	if loftErr != nil {
		tb.Fatal(loftErr)
	}
	return loftPath
}

// The push scenario against the real server binary: in the fast phases
// every acked message is pushed exactly once (the tool checks each
// recipient's count), and a slow vendor leaves pushes queued while the
// messages are acked.
func TestPush(t *testing.T) {
	res := runArgs(t, []string{"--server", loftBinary(t), "--recipients", "5", "--senders", "2", "--window", "4",
		"--duration", "1s", "--rate", "200", "--vendor-delay", "200ms", "push"})
	m := res["push"].Metrics
	for _, ph := range []string{"fast", "rate_fast", "rate_slow"} {
		sent, acked, pushes := m[ph+"_sent"], m[ph+"_acked"], m[ph+"_pushes"]
		if sent == 0 || acked != sent {
			t.Errorf("%s: sent %v, acked %v; want equal and nonzero", ph, sent, acked)
		}
		if ph != "rate_slow" && pushes != acked {
			t.Errorf("%s: %v pushes for %v acked messages", ph, pushes, acked)
		}
		p50, p99 := m[ph+"_send_to_ack_p50"], m[ph+"_send_to_ack_p99"]
		if p50 <= 0 || p99 < p50 || m[ph+"_acked_per_s"] <= 0 || m[ph+"_server_cpu"] <= 0 {
			t.Errorf("%s: send-to-ack p50 %v p99 %v, acked/s %v, server cpu %v", ph, p50, p99, m[ph+"_acked_per_s"], m[ph+"_server_cpu"])
		}
	}
	for _, ph := range []string{"fast", "rate_fast"} {
		if m[ph+"_pushes_per_s"] <= 0 || m[ph+"_pushes_end_to_end_per_s"] <= 0 || m[ph+"_send_to_push_p50"] <= 0 {
			t.Errorf("%s: pushes/s %v, end to end %v, send-to-push p50 %v", ph, m[ph+"_pushes_per_s"], m[ph+"_pushes_end_to_end_per_s"], m[ph+"_send_to_push_p50"])
		}
	}
	// 2 senders at 200 msg/s in all for 1 s, after a 250 ms warmup.
	if got := m["rate_fast_acked_per_s"]; got < 100 || got > 300 {
		t.Errorf("rate_fast ran at %v msg/s, want about 200", got)
	}
	// 16 pushes in flight at 200 ms each: at most 80 pushes/s.
	if got := m["rate_slow_pushes_per_s"]; got > 100 || m["rate_slow_push_backlog"] <= 0 {
		t.Errorf("rate_slow: %v pushes/s and a backlog of %v; want at most 80/s and pushes left queued", got, m["rate_slow_push_backlog"])
	}
	if m["slow_to_fast_ack_p50_ratio"] <= 0 || m["slow_to_fast_ack_p99_ratio"] <= 0 {
		t.Errorf("no slow-to-fast ratios: %v", m)
	}
}

// The fake vendor reads what the real webhook vendor posts: the token, a
// probe by its sender, the send time in the body, and the signature; only
// the tracked tokens count as the phase's pushes.
func TestFakeVendor(t *testing.T) {
	const secret = "fake-vendor-secret-0123"
	v, err := startFakeVendor("127.0.0.1:0", secret)
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	client := func(secret string) *webhook.Client {
		c, err := webhook.New(webhook.Config{URL: v.url, Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	good, bad := client(secret), client("another-secret-0123456")
	send := func(c *webhook.Client, token, from, body string) error {
		return c.Send(context.Background(), &offlinepush.Notification{Token: token, Title: from, Body: body,
			Data: map[string]string{"conv": "d:a:b", "from": from, "msg_id": "1", "seq": "1", "type": "message"}})
	}
	v.track("tok-")
	v.window(0, 1<<62)
	ts := strconv.FormatInt(since(), 10)
	for _, p := range []struct{ token, from, body string }{
		{"tok-a", "x-s0", ts}, {"tok-a", "x-s1", ts}, {"tok-b", "x-probe", "probe"}, {"tok-c", "x-s0", "[message]"},
		{"old-a", "x-s0", ts}, // a token of another phase
	} {
		if err := send(good, p.token, p.from, p.body); err != nil {
			t.Fatalf("push %+v: %v", p, err)
		}
	}
	if err := send(bad, "tok-a", "x-s0", ts); offlinepush.KindOf(err) != offlinepush.KindAuth {
		t.Errorf("a push signed with another secret: %v, want a refusal", err)
	}
	tokens := []string{"tok-a", "tok-b", "tok-c"}
	if got := v.counts(tokens); !slices.Equal(got, []int{2, 0, 1}) {
		t.Errorf("counts %v, want [2 0 1]", got)
	}
	if got := v.unprobed(tokens); !slices.Equal(got, []int{0, 2}) {
		t.Errorf("unprobed %v, want [0 2]", got)
	}
	if v.pushed.Load() != 3 || v.refused.Load() != 1 || v.latency().TotalCount() != 2 {
		t.Errorf("pushed %d, refused %d, latencies %d; want 3, 1, 2", v.pushed.Load(), v.refused.Load(), v.latency().TotalCount())
	}
	body := pushBody(nil, 42, 128)
	if len(body) != 128 || !json.Valid(body) || !bytes.HasPrefix(body, []byte(`{"text":"42",`)) {
		t.Errorf("push body is %d bytes: %s", len(body), body)
	}
}
