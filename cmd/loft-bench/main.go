// Command loft-bench drives a running Loft server over real WebSocket
// connections from its own process and reports what it measured.
//
//	loft-bench [flags] SCENARIO [SCENARIO...]
//	loft-bench relay --listen ADDR    run the ceiling relay on its own
//
// Scenarios: idle, direct, latency, reconnect, ceiling, group, catchup, push (see
// --help). Each lives in its own file and is listed in scenarios below;
// adding one is a file and a line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// scenario is one kind of load.
type scenario struct {
	name  string
	about string
	run   func(ctx context.Context, e *env) (*result, error)
}

var scenarios = []scenario{
	{"idle", "open --conns authenticated, synced connections that then idle: server RSS per connection and connect rate", runIdle},
	{"direct", "--pairs sender/receiver pairs, --window sends in flight per sender: delivered messages/s at saturation", runDirect},
	{"latency", "a fixed --rate of messages for --duration: send-to-receive and send-to-ack latency from the intended send time", runLatency},
	{"reconnect", "--users devices that missed --missed messages each reconnect at once: time until all have synced", runReconnect},
	{"ceiling", "the direct load against a bare coder/websocket relay (no auth, no storage) started by the tool", runCeiling},
	{"group", "--senders of a --members group (one live device each) keep --window sends in flight to it: deliveries/s", runGroup},
	{"catchup", "a device that missed --catchup-missed messages across --convs conversations syncs from 0: time to sync, over --rounds", runCatchup},
	{"push", "--senders message --recipients that are offline with push tokens, through the queue to the tool's fake vendor: pushes/s, and send-to-ack latency with a fast and a --vendor-delay slow vendor", runPush},
}

// options are the tool's flags.
type options struct {
	URL         string
	Secret      string
	SecretFile  string
	ServerPID   int
	JSON        bool
	Quiet       bool
	Sources     int
	Pairs       int
	Window      int
	Payload     int
	Duration    time.Duration
	Rate        int
	Conns       int
	Concurrency int
	Users       int
	Missed      int
	Settle      time.Duration
	Prefix      string
	Cork        bool
	Server      string
	ServerFlags string

	// group, catchup
	Members       int
	Senders       int
	Convs         int
	CatchupMissed int
	Rounds        int

	// push
	Recipients  int
	PushListen  string
	PushSecret  string
	PushGrace   time.Duration
	VendorDelay time.Duration
}

func (o *options) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.URL, "url", "ws://127.0.0.1:8080/v1/ws", "the server's WebSocket URL")
	fs.StringVar(&o.Secret, "secret", "", "HS256 secret to sign client tokens with (default: read --secret-file)")
	fs.StringVar(&o.SecretFile, "secret-file", "./data/jwt-secret", "file holding the server's HS256 secret")
	fs.IntVar(&o.ServerPID, "server-pid", 0, "the server's pid, for its CPU and memory (default: the process listening on the URL's port)")
	fs.BoolVar(&o.JSON, "json", false, "print results as JSON")
	fs.BoolVar(&o.Quiet, "quiet", false, "no live progress line")
	fs.IntVar(&o.Sources, "sources", 16, "loopback source addresses to spread connections over (127.0.0.1-N)")
	fs.IntVar(&o.Pairs, "pairs", 100, "direct, latency, ceiling: sender/receiver pairs")
	fs.IntVar(&o.Window, "window", 16, "direct, ceiling, group, catchup, push: sends in flight per sender")
	fs.IntVar(&o.Payload, "payload", 128, "message body size in bytes")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "direct, latency, ceiling, group, push: how long to measure (push: each phase)")
	fs.IntVar(&o.Rate, "rate", 0, "latency, push (its fixed-rate phases): messages per second, over all senders (default: latency 5000, push 1000)")
	fs.IntVar(&o.Conns, "conns", 15000, "idle: connections to open")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "idle, reconnect, group, catchup: connections opened in parallel")
	fs.IntVar(&o.Users, "users", 10000, "reconnect: devices (one per user) that reconnect at once")
	fs.IntVar(&o.Missed, "missed", 100, "reconnect: messages each device missed")
	fs.IntVar(&o.Members, "members", 500, "group: members, one live device each (over the server's --group-fanout, 500 by default, the group is read fan-out: raise that flag to at least this)")
	fs.IntVar(&o.Senders, "senders", 10, "group: members that send; push: online users that send")
	fs.IntVar(&o.Convs, "convs", 100, "catchup: conversations (peers) the missed messages come from")
	fs.IntVar(&o.CatchupMissed, "catchup-missed", 10000, "catchup: messages the device missed, over all conversations")
	fs.IntVar(&o.Rounds, "rounds", 5, "catchup: times to catch up, each with a fresh user")
	fs.IntVar(&o.Recipients, "recipients", 100, "push: offline users the messages go to, each with one device's push token")
	fs.StringVar(&o.PushListen, "push-listen", "127.0.0.1:0", "push: address of the tool's fake push vendor (port 0: a free one); with --url, the server must have a webhook vendor posting to http://ADDR/push with --push-secret, and --push-when all_offline")
	fs.StringVar(&o.PushSecret, "push-secret", "loft-bench-webhook-secret", "push: the webhook secret (16 bytes or more) the fake vendor checks signatures with")
	fs.DurationVar(&o.PushGrace, "push-grace", 10*time.Millisecond, "push: the --server's --push-grace; with --url, the server's own, which the tool waits out before it calls a recipient unpushable")
	fs.DurationVar(&o.VendorDelay, "vendor-delay", 2*time.Second, "push: how long the fake vendor takes to answer each push in the slow-vendor phase")
	fs.DurationVar(&o.Settle, "settle", 3*time.Second, "idle: wait before reading the server's memory; catchup: wait between the fill and the sync")
	fs.BoolVar(&o.Cork, "cork", false, "senders write each burst of due sends with one syscall instead of one per frame")
	fs.StringVar(&o.Server, "server", "", "start this Loft binary afresh (empty data dir) for each scenario instead of using --url")
	fs.StringVar(&o.ServerFlags, "server-flags", "--rate-limit=1000000000", "flags for the --server binary (benchmarks lift the per-connection frame limit)")
	fs.StringVar(&o.Prefix, "prefix", "", "user id prefix (default: a fresh one per run, so runs do not share inboxes)")
}

// env is what a scenario works with.
type env struct {
	opt    options
	dial   *dialer
	secret []byte
	server *proc // nil if the server's process is not known
	out    io.Writer
	log    io.Writer // progress and notes; nil with --quiet
}

// token mints a client token for user, valid for a day.
func (e *env) token(user string) string {
	t, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user,
		"exp": time.Now().Add(24 * time.Hour).Unix(),
	}).SignedString(e.secret)
	if err != nil {
		panic(err) // HS256 with a byte key cannot fail
	}
	return t
}

// tokens mints the tokens of users kind 0..n-1 ahead of a timed phase:
// clients bring their tokens, minting them is not part of connecting.
func (e *env) tokens(kind string, n int) []string {
	t := make([]string, n)
	for i := range t {
		t[i] = e.token(e.user(kind, i))
	}
	return t
}

// user returns the id of the i-th user of kind ("s" sender, "r" receiver).
func (e *env) user(kind string, i int) string {
	return e.opt.Prefix + kind + strconv.Itoa(i)
}

// body returns a JSON object of the configured payload size whose first
// field, t, is ts: receivers read it back for latency.
func (e *env) body(b []byte, ts int64) []byte {
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"p":"`...)
	pad := e.opt.Payload - (len(b) + 2)
	for range max(pad, 0) {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// usage is a scenario's CPU use over its measured window.
type usage struct {
	start      time.Time
	self, serv time.Duration
	srv        *proc
}

func (e *env) startUsage() usage {
	u := usage{start: time.Now(), self: selfCPU(), srv: e.server}
	if u.srv != nil {
		u.serv, _ = u.srv.cpu()
	}
	return u
}

// finish adds the CPU figures of the window to r; work is the count of the
// scenario's unit of work (deliveries) for a per-CPU-second figure.
func (u usage) finish(r *result, work float64, unit string) {
	wall := time.Since(u.start).Seconds()
	self := (selfCPU() - u.self).Seconds()
	r.add("tool_cpu", 100*self/wall, "% of one core")
	if u.srv == nil {
		return
	}
	now, err := u.srv.cpu()
	if err != nil {
		r.errorf("server cpu: %v", err)
		return
	}
	serv := (now - u.serv).Seconds()
	r.add("server_cpu", 100*serv/wall, "% of one core")
	if work > 0 && serv > 0 {
		r.add(unit+"_per_server_cpu_s", work/serv, unit+"/cpu-s")
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loft-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "relay" {
		return runRelayCommand(ctx, args[1:], stderr)
	}
	var o options
	fs := flag.NewFlagSet("loft-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: loft-bench [flags] SCENARIO [SCENARIO...]\n\nScenarios:\n")
		for _, s := range scenarios {
			fmt.Fprintf(stderr, "  %-10s %s\n", s.name, s.about)
		}
		fmt.Fprintf(stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("name at least one scenario")
	}
	var todo []scenario
	for _, name := range fs.Args() {
		i := indexScenario(name)
		if i < 0 {
			return fmt.Errorf("unknown scenario %q (see --help)", name)
		}
		todo = append(todo, scenarios[i])
	}
	e, err := newEnv(o, stdout, stderr, todo)
	if err != nil {
		return err
	}
	var results []*result
	for _, s := range todo {
		// Each scenario has users of its own: client ids restart at 0.
		se := *e
		se.opt.Prefix = e.opt.Prefix + s.name + "-"
		var srv *loftProcess
		if o.Server != "" && !ownServer(s.name) {
			var err error
			if srv, err = se.startServer(); err != nil {
				return err
			}
		}
		r, err := s.run(ctx, &se)
		if srv != nil {
			srv.stop()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		r.Scenario = s.name
		results = append(results, r)
		if !o.JSON {
			writeTable(stdout, []*result{r})
		}
	}
	addCeilingRatios(results)
	if o.JSON {
		return writeJSON(stdout, results)
	}
	if len(results) > 1 {
		fmt.Fprintln(stdout, "\n== all")
		writeTable(stdout, results)
	}
	for _, r := range results {
		if len(r.Errors) > 0 {
			return fmt.Errorf("%s saw %d problem(s)", r.Scenario, len(r.Errors))
		}
	}
	return nil
}

// ownServer reports whether scenario name starts what it measures itself
// with --server: ceiling its relay, push a server per phase with flags of
// its own.
func ownServer(name string) bool { return name == "ceiling" || name == "push" }

func indexScenario(name string) int {
	for i, s := range scenarios {
		if s.name == name {
			return i
		}
	}
	return -1
}

func newEnv(o options, stdout, stderr io.Writer, todo []scenario) (*env, error) {
	e := &env{opt: o, out: stdout, log: stderr, dial: &dialer{url: o.URL, sources: o.Sources}}
	if o.Quiet {
		e.log = nil
	}
	if e.opt.Prefix == "" {
		e.opt.Prefix = "b" + strconv.FormatInt(time.Now().UnixMilli()%1e9, 36) + "-"
	}
	limit := raiseFileLimit()
	e.note("open-file limit %d", limit)
	onlyCeiling := true
	for _, s := range todo {
		onlyCeiling = onlyCeiling && s.name == "ceiling"
	}
	if onlyCeiling || o.Server != "" {
		return e, nil // the relay needs no secret; a started server has its own
	}
	switch {
	case o.Secret != "":
		e.secret = []byte(o.Secret)
	default:
		data, err := os.ReadFile(o.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("token secret: %w (pass --secret or --secret-file)", err)
		}
		e.secret = []byte(strings.TrimSpace(string(data)))
	}
	pid := o.ServerPID
	if pid == 0 {
		u, err := url.Parse(o.URL)
		if err != nil {
			return nil, fmt.Errorf("--url: %w", err)
		}
		port, _ := strconv.Atoi(u.Port())
		if port == 0 {
			port = 80
		}
		if pid, err = findListener(port); err != nil {
			e.note("server CPU and memory not reported: %v", err)
		}
	}
	if pid != 0 {
		e.server = &proc{pid: pid}
		e.note("server pid %d", pid)
	}
	return e, nil
}

// note prints a line to the progress output.
func (e *env) note(format string, args ...any) {
	if e.log != nil {
		fmt.Fprintf(e.log, format+"\n", args...)
	}
}

// addCeilingRatios gives direct's throughput as a ratio of the ceiling's,
// when both ran.
func addCeilingRatios(results []*result) {
	var ceiling float64
	for _, r := range results {
		if r.Scenario == "ceiling" {
			ceiling = value(r, "delivered_per_s")
		}
	}
	if ceiling == 0 {
		return
	}
	for _, r := range results {
		if r.Scenario == "direct" {
			r.add("ratio_to_ceiling", value(r, "delivered_per_s")/ceiling, "x")
		}
	}
}

func value(r *result, name string) float64 {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m.Value
		}
	}
	return 0
}
