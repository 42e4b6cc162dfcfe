package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/history"
)

const testSecret = "loft-bench-test-secret-0123456789abcdef"

// startServer runs a real chat server over a real store in a temp dir, in
// this process (its pid stands in for the server's).
func startServer(t *testing.T) string {
	t.Helper()
	var srv *chat.Server
	store, err := history.Open(t.TempDir(), history.Config{OnCommit: func(b []history.Appended) { srv.Committed(b) }})
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
	var out, errOut bytes.Buffer
	all := append([]string{"--url", url, "--secret", testSecret, "--server-pid", strconv.Itoa(os.Getpid()), "--json", "--quiet"}, args...)
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
	os.Exit(m.Run())
}
