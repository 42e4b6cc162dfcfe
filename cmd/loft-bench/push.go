package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/loftchat/loft/offlinepush/webhook"
)

// runPush measures offline push end to end: messages to users that are
// offline with a push token go through the server's durable push queue to
// the tool's fake vendor (an HTTP server the webhook vendor posts to).
//
// Each of --recipients users registers the token "tok-<user>" with one
// device and disconnects; a probe message to each shows the server pushes
// it (it is offline). Then --senders online users send 1:1 messages round
// robin to the recipients, in three phases:
//
//   - fast: --window sends in flight per sender, the vendor answers at
//     once: acked msg/s and pushes/s at saturation, until every acked
//     message's push has arrived (each yields exactly one push);
//   - rate_fast: --rate msg/s (default 1,000), the vendor answers at once:
//     send-to-ack latency from the intended send time;
//   - rate_slow: the same while the vendor takes --vendor-delay per push,
//     so pushes pile up in the queue: send-to-ack latency should not move.
//
// With --server each phase has a fresh server, started with a push config
// the tool writes; with --url each phase has users of its own, and the
// slow phase's backlog stays in the server's queue.
func runPush(ctx context.Context, e *env) (*result, error) {
	o := e.opt
	o.Rate = cmp.Or(o.Rate, 1000) // latency's 5,000 msg/s swamps a small machine's push queue
	if o.Recipients < 1 || o.Senders < 1 || o.Window < 1 || o.Rate < 1 || o.VendorDelay < 0 {
		return nil, fmt.Errorf("--recipients, --senders, --window and --rate must be at least 1 and --vendor-delay not negative (have %d, %d, %d, %d, %s)",
			o.Recipients, o.Senders, o.Window, o.Rate, o.VendorDelay)
	}
	if len(o.PushSecret) < 16 {
		return nil, errors.New("--push-secret must be at least 16 bytes (the webhook vendor's minimum)")
	}
	v, err := startFakeVendor(o.PushListen, o.PushSecret)
	if err != nil {
		return nil, fmt.Errorf("fake vendor: %w", err)
	}
	defer v.close()
	e.note("fake vendor at %s", v.url)

	var serverFlags []string
	if o.Server != "" {
		dir, err := os.MkdirTemp("", "loft-bench-push-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		file := filepath.Join(dir, "push.json")
		cfg, _ := json.Marshal(map[string]any{"vendors": map[string]any{"webhook": map[string]string{"url": v.url, "secret": o.PushSecret}}})
		if err := os.WriteFile(file, cfg, 0o600); err != nil {
			return nil, err
		}
		serverFlags = []string{"--push-config", file, "--push-grace", o.PushGrace.String(), "--push-when", "all_offline"}
	}

	r := &result{Params: map[string]any{"recipients": o.Recipients, "senders": o.Senders, "window": o.Window, "rate": o.Rate,
		"payload": o.Payload, "duration": o.Duration.String(), "vendor_delay": o.VendorDelay.String(), "push_grace": o.PushGrace.String()}}
	phases := []pushPhase{
		{name: "fast", drain: true},
		{name: "rate_fast", rate: o.Rate, drain: true},
		{name: "rate_slow", rate: o.Rate, delay: o.VendorDelay},
	}
	for _, ph := range phases {
		pe := *e
		pe.opt.Prefix = e.opt.Prefix + ph.name + "-"
		var srv *loftProcess
		if o.Server != "" {
			if srv, err = pe.startServer(serverFlags...); err != nil {
				return nil, err
			}
		}
		e.note("phase %s", ph.name)
		pr, err := (&pushLoad{e: &pe, v: v, ph: ph}).run(ctx)
		v.setDelay(0) // answers the pushes in flight, so the server stops at once
		if srv != nil {
			srv.stop()
		}
		if err != nil {
			return nil, fmt.Errorf("phase %s: %w", ph.name, err)
		}
		for _, m := range pr.Metrics {
			r.add(ph.name+"_"+m.Name, m.Value, m.Unit)
		}
		for _, msg := range pr.Errors {
			r.errorf("%s: %s", ph.name, msg)
		}
	}
	for _, q := range []string{"p50", "p99"} {
		if fast := value(r, "rate_fast_send_to_ack_"+q); fast > 0 {
			r.add("slow_to_fast_ack_"+q+"_ratio", value(r, "rate_slow_send_to_ack_"+q)/fast, "x")
		}
	}
	if n := v.refused.Load(); n > 0 {
		r.errorf("the fake vendor refused %d pushes whose signature did not check (is --push-secret the server's webhook secret?)", n)
	}
	return r, nil
}

// pushPhase is one load of the push scenario.
type pushPhase struct {
	name  string        // metric prefix
	rate  int           // messages/s over all senders; 0: --window in flight per sender
	delay time.Duration // how long the fake vendor takes per push
	drain bool          // wait until every acked message's push arrived
}

// pushLoad is one phase's state.
type pushLoad struct {
	e  *env
	v  *fakeVendor
	ph pushPhase

	recipients []string       // user ids
	tokens     []string       // their push tokens
	ackedTo    []atomic.Int64 // acked messages by recipient
	senders    []*pushSender

	start       time.Time    // of the load, for rate-mode schedules
	measureFrom atomic.Int64 // since() at the end of the warmup: earlier latencies are not recorded

	sent, acked, failed atomic.Int64

	res     *result                 // guarded by resMu
	sendAck *hdrhistogram.Histogram // guarded by resMu
	resMu   sync.Mutex
}

// pushSender is one sender's device. In window mode a send's id is
// n*window + slot, and the slot holds its send time until the ack.
type pushSender struct {
	idx     int
	c       *conn
	credits chan int       // window mode: free slots
	sentAt  []atomic.Int64 // window mode: since() of each slot's send
}

func (l *pushLoad) run(ctx context.Context) (*result, error) {
	e := l.e
	l.res, l.sendAck = &result{}, newHistogram()
	l.measureFrom.Store(1 << 62)
	n := e.opt.Recipients
	l.recipients, l.tokens, l.ackedTo = make([]string, n), make([]string, n), make([]atomic.Int64, n)
	for i := range n {
		l.recipients[i] = e.user("r", i)
		l.tokens[i] = "tok-" + l.recipients[i] // see track below
	}
	if err := l.register(ctx); err != nil {
		return nil, err
	}
	defer func() {
		for _, s := range l.senders {
			s.c.ws.CloseNow()
		}
	}()
	if err := l.connectSenders(ctx); err != nil {
		return nil, err
	}
	if err := l.probe(ctx); err != nil {
		return nil, err
	}
	l.v.setDelay(l.ph.delay)         // after the probes, which would queue behind a slow vendor's pushes
	l.v.track("tok-" + e.opt.Prefix) // this phase's tokens

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	readCtx, stopRead := context.WithCancel(context.Background())
	defer stopRead()
	var readers, writers sync.WaitGroup
	l.start = time.Now()
	for _, s := range l.senders {
		readers.Add(1)
		go func() { defer readers.Done(); l.readAcks(readCtx, s) }()
		writers.Add(1)
		go func() { defer writers.Done(); l.sendLoop(loadCtx, s) }()
	}
	prog := startProgress(e.log, l.ph.name+" warmup", []string{"acked", "pushed"}, []*atomic.Int64{&l.acked, &l.v.pushed})
	wait := func(d time.Duration) {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	wait(min(2*time.Second, e.opt.Duration/4))
	prog.setLabel(l.ph.name + " measure")
	from := since()
	l.measureFrom.Store(from)
	l.v.window(from, 1<<62)
	a0, p0 := l.acked.Load(), l.v.pushed.Load()
	u := e.startUsage()
	wait(e.opt.Duration)
	acked, pushed := l.acked.Load()-a0, l.v.pushed.Load()-p0
	elapsed := time.Since(u.start)
	cpu := &result{}
	u.finish(cpu, float64(acked), "msgs")
	l.v.window(from, since()) // pushes of later messages are not recorded
	stopLoad()
	writers.Wait()
	stopped := time.Now()

	prog.setLabel(l.ph.name + " drain")
	answered := func() bool { return l.acked.Load()+l.failed.Load() >= l.sent.Load() }
	for by := time.Now().Add(15 * time.Second); !answered() && time.Now().Before(by) && ctx.Err() == nil; {
		time.Sleep(10 * time.Millisecond)
	}
	var drained time.Duration
	if l.ph.drain {
		// Every acked message to an offline recipient with a token yields
		// exactly one push.
		for by := time.Now().Add(60 * time.Second); l.v.pushed.Load() < l.acked.Load() && time.Now().Before(by) && ctx.Err() == nil; {
			time.Sleep(10 * time.Millisecond)
		}
		drained = time.Since(stopped)
	}
	prog.end()
	stopRead()
	for _, s := range l.senders { // unblock the readers
		s.c.ws.CloseNow()
	}
	readers.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	r := l.res
	r.add("acked_per_s", float64(acked)/elapsed.Seconds(), "msg/s")
	r.add("pushes_per_s", float64(pushed)/elapsed.Seconds(), "pushes/s")
	r.addLatency("send_to_ack", l.sendAck)
	total := l.v.pushed.Load()
	r.add("sent", float64(l.sent.Load()), "msgs")
	r.add("acked", float64(l.acked.Load()), "msgs")
	r.add("pushes", float64(total), "pushes")
	if l.ph.drain {
		if total > 0 { // from the first send to the last push, warmup and drain included
			r.add("pushes_end_to_end_per_s", float64(total)/l.v.lastPush().Sub(l.start).Seconds(), "pushes/s")
		}
		r.add("push_drain", drained.Seconds(), "s after the senders stopped")
		r.addLatency("send_to_push", l.v.latency())
	} else {
		r.add("push_backlog", float64(l.acked.Load()-total), "msgs queued at the end")
	}
	r.Metrics = append(r.Metrics, cpu.Metrics...)
	r.Errors = append(r.Errors, cpu.Errors...)
	if f := l.failed.Load(); f > 0 {
		r.errorf("%d sends answered with an error", f)
	}
	if s, a, f := l.sent.Load(), l.acked.Load(), l.failed.Load(); a+f != s {
		r.errorf("%d of %d sends never answered", s-a-f, s)
	}
	if l.ph.drain {
		l.checkPushes(r, total)
	}
	return r, nil
}

// checkPushes checks that every recipient got exactly one push per
// message acked to it.
func (l *pushLoad) checkPushes(r *result, total int64) {
	switch a := l.acked.Load(); {
	case total < a:
		r.errorf("%d messages acked but %d pushes arrived within 60 s after the senders stopped (the queue was still draining, or pushes were lost)", a, total)
		return // which it was, the counts by recipient cannot tell
	case total > a:
		r.errorf("%d messages acked but %d pushes arrived", a, total)
	}
	counts := l.v.counts(l.tokens)
	wrong := 0
	for i, got := range counts {
		if want := l.ackedTo[i].Load(); int64(got) != want {
			if wrong == 0 {
				r.errorf("%s got %d pushes for %d acked messages", l.recipients[i], got, want)
			}
			wrong++
		}
	}
	if wrong > 1 {
		r.errorf("%d recipients in all got the wrong number of pushes", wrong)
	}
}

// register has each recipient log in one device, register its token and
// disconnect.
func (l *pushLoad) register(ctx context.Context) error {
	e := l.e
	jwts := e.tokens("r", len(l.recipients))
	var done atomic.Int64
	prog := startProgress(e.log, l.ph.name+" register", []string{"recipients"}, []*atomic.Int64{&done})
	defer prog.end()
	return forEach(ctx, len(l.recipients), e.opt.Concurrency, func(ctx context.Context, i int) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		c, err := e.dial.dial(ctx)
		if err != nil {
			return err
		}
		defer c.ws.CloseNow()
		if _, err := c.login(ctx, jwts[i], "d"); err != nil {
			return err
		}
		b := append([]byte(`{"type":"push_register","id":"r","vendor":"webhook","token":"`), l.tokens[i]...)
		if err := c.write(append(b, `"}`...)); err != nil {
			return err
		}
		for {
			f, err := c.read(ctx)
			if err != nil {
				return fmt.Errorf("push_register: %w", err)
			}
			if frameType(f) == "error" {
				return fmt.Errorf("push_register: %s (the server needs a webhook vendor posting to %s)", short(f), l.v.url)
			}
			if string(field(f, `"type":"`)) == "push_registered" {
				break
			}
		}
		// A graceful close: the server has seen the device go by the
		// time the closing handshake ends.
		c.close()
		done.Add(1)
		return nil
	})
}

// connectSenders logs in the senders; they do not sync, so they read only
// answers to their sends.
func (l *pushLoad) connectSenders(ctx context.Context) error {
	e := l.e
	jwts := e.tokens("s", e.opt.Senders)
	l.senders = make([]*pushSender, e.opt.Senders)
	for i := range l.senders {
		s := &pushSender{idx: i}
		if l.ph.rate == 0 {
			s.credits = make(chan int, e.opt.Window)
			s.sentAt = make([]atomic.Int64, e.opt.Window)
			for slot := range e.opt.Window {
				s.credits <- slot
			}
		}
		l.senders[i] = s
	}
	return forEach(ctx, len(l.senders), e.opt.Concurrency, func(ctx context.Context, i int) error {
		c, err := e.dial.dial(ctx)
		if err != nil {
			return err
		}
		l.senders[i].c = c
		_, err = c.login(ctx, jwts[i], "d")
		return err
	})
}

// probe sends each recipient a message from a probe user and waits until
// the fake vendor has its push, which shows that the server sees the
// recipient offline; recipients without one are probed again, up to three
// rounds of --push-grace and 5 s.
func (l *pushLoad) probe(ctx context.Context) error {
	e := l.e
	c, err := e.dial.dial(ctx)
	if err != nil {
		return err
	}
	defer c.ws.CloseNow()
	if _, err := c.login(ctx, e.token(e.opt.Prefix+"probe"), "d"); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	var buf []byte
	var id uint64
	todo := make([]int, len(l.recipients))
	for i := range todo {
		todo[i] = i
	}
	for round := 0; len(todo) > 0; round++ {
		if round == 3 {
			return fmt.Errorf("probe: %d of %d recipients were never pushed (%s first): does the server's webhook vendor post to %s, with --push-when all_offline?",
				len(todo), len(l.recipients), l.recipients[todo[0]], l.v.url)
		}
		for _, i := range todo {
			buf = sendFrame(buf[:0], l.recipients[i], id, []byte(`{"text":"probe"}`))
			id++
			if err := c.write(buf); err != nil {
				return fmt.Errorf("probe: %w", err)
			}
		}
		for range todo {
			f, err := c.read(ctx)
			if err != nil {
				return fmt.Errorf("probe: %w", err)
			}
			if frameType(f) != "ack" {
				return fmt.Errorf("probe: %s", short(f))
			}
		}
		by := time.Now().Add(e.opt.PushGrace + 5*time.Second)
		for todo = l.v.unprobed(l.tokens); len(todo) > 0 && time.Now().Before(by); todo = l.v.unprobed(l.tokens) {
			select {
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	e.note("%d recipients offline and pushed", len(l.recipients))
	return nil
}

// recipient is the recipient of sender i's n-th message: each sender goes
// round the recipients from its own offset.
func (l *pushLoad) recipient(i int, n uint64) int {
	r := uint64(len(l.recipients))
	return int((uint64(i*len(l.recipients)/len(l.senders)) + n) % r)
}

// interval is a sender's time between messages in rate mode.
func (l *pushLoad) interval() time.Duration {
	return time.Duration(int64(time.Second) * int64(len(l.senders)) / int64(l.ph.rate))
}

// intended is when message n of sender i is due in rate mode; senders are
// phased evenly over one interval.
func (l *pushLoad) intended(i int, n uint64) int64 {
	iv := int64(l.interval())
	return int64(l.start.Sub(epoch)) + iv*int64(i)/int64(len(l.senders)) + int64(n)*iv
}

// sendLoop writes s's sends: one for every free slot in window mode, or
// every message that is due in rate mode. Each body's text is its send
// time (in rate mode the intended one), which the push carries back.
func (l *pushLoad) sendLoop(ctx context.Context, s *pushSender) {
	var buf, body []byte
	var n uint64
	w := uint64(l.e.opt.Window)
	for {
		var slots []int
		k := 0
		if l.ph.rate > 0 {
			due := l.intended(s.idx, n)
			if wait := time.Duration(due - since()); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
			for now := since(); l.intended(s.idx, n+uint64(k)) <= now; {
				k++
			}
		} else {
			select {
			case slot := <-s.credits:
				slots = append(slots[:0], slot)
			case <-ctx.Done():
				return
			}
			for more := true; more; {
				select {
				case slot := <-s.credits:
					slots = append(slots, slot)
				default:
					more = false
				}
			}
			k = len(slots)
		}
		if l.e.opt.Cork {
			s.c.cork()
		}
		for j := range k {
			ts, id := since(), n
			if l.ph.rate > 0 {
				ts = l.intended(s.idx, n)
			} else {
				s.sentAt[slots[j]].Store(ts)
				id = n*w + uint64(slots[j])
			}
			body = pushBody(body[:0], ts, l.e.opt.Payload)
			buf = sendFrame(buf[:0], l.recipients[l.recipient(s.idx, n)], id, body)
			if err := s.c.write(buf); err != nil {
				l.fail("send", err)
				return
			}
			n++
			l.sent.Add(1)
		}
		if l.e.opt.Cork {
			if err := s.c.uncork(); err != nil {
				l.fail("send", err)
				return
			}
		}
	}
}

// readAcks reads s's answers: an ack counts for its recipient, records
// send-to-ack latency and, in window mode, frees its slot.
func (l *pushLoad) readAcks(ctx context.Context, s *pushSender) {
	h := newHistogram()
	defer func() {
		l.resMu.Lock()
		l.sendAck.Merge(h)
		l.resMu.Unlock()
	}()
	w := uint64(l.e.opt.Window)
	for {
		f, err := s.c.read(ctx)
		if err != nil {
			if !errClosed(err) {
				l.fail("read acks", err)
			}
			return
		}
		now := since()
		switch frameType(f) {
		case "ack":
			id, ok := ackID(f)
			if !ok {
				continue
			}
			n, t := id, int64(0)
			if l.ph.rate > 0 {
				t = l.intended(s.idx, n)
			} else {
				n = id / w
				t = s.sentAt[id%w].Load()
			}
			if t >= l.measureFrom.Load() {
				h.RecordValue(max((now-t)/1000, 1))
			}
			l.ackedTo[l.recipient(s.idx, n)].Add(1)
			l.acked.Add(1)
			if s.credits != nil {
				s.credits <- int(id % w)
			}
		case "error":
			id, ok := errorID(f)
			if !ok {
				continue
			}
			l.failed.Add(1)
			l.fail("send", errors.New(short(f)))
			if s.credits != nil {
				s.credits <- int(id % w)
			}
		}
	}
}

func (l *pushLoad) fail(what string, err error) {
	l.resMu.Lock()
	l.res.errorf("%s: %v", what, err)
	l.resMu.Unlock()
}

// pushBody appends a message body of about size bytes whose text, which a
// push's body shows, is ts.
func pushBody(b []byte, ts int64, size int) []byte {
	start := len(b)
	b = append(b, `{"text":"`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `","p":"`...)
	for range max(size-(len(b)-start)-2, 0) {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// fakeVendor stands in for an app's push service: an HTTP server that
// takes the webhook vendor's POSTs, checks their signatures, counts them
// by token and answers 200 after its delay. A push from the probe user
// (its sender's id ends in "probe") only marks its token as probed; the
// others of the tracked tokens (one phase's) are also counted in pushed,
// with their send-to-push latency, so that a backlog another phase left in
// a --url server does not count. It owns its serving goroutine; close
// stops it and is safe to call twice.
type fakeVendor struct {
	url    string
	secret []byte
	srv    *http.Server
	wg     sync.WaitGroup
	once   sync.Once

	mode    atomic.Pointer[vendorMode]
	pushed  atomic.Int64 // pushes of the tracked tokens answered; written under mu
	refused atomic.Int64 // requests whose signature did not check

	mu       sync.Mutex
	byToken  map[string]int          // guarded by mu: pushes answered, probes not counted
	probed   map[string]bool         // guarded by mu
	tracked  string                  // guarded by mu: the prefix of the tracked tokens
	last     time.Time               // guarded by mu: when the last push of a tracked token was answered
	lat      *hdrhistogram.Histogram // guarded by mu: send-to-push of messages sent in [from, to)
	from, to int64                   // guarded by mu
}

// vendorMode is how the fake vendor answers: after delay, or as soon as
// release is closed (by the next setDelay or close).
type vendorMode struct {
	delay   time.Duration
	release chan struct{}
}

func startFakeVendor(addr, secret string) (*fakeVendor, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	v := &fakeVendor{url: "http://" + ln.Addr().String() + "/push", secret: []byte(secret),
		byToken: map[string]int{}, probed: map[string]bool{}, lat: newHistogram()}
	v.mode.Store(&vendorMode{release: make(chan struct{})})
	v.srv = &http.Server{Handler: v, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	v.wg.Add(1)
	go func() { defer v.wg.Done(); v.srv.Serve(ln) }()
	return v, nil
}

// setDelay sets how long each push waits for its answer from now on, and
// answers the pushes waiting now.
func (v *fakeVendor) setDelay(d time.Duration) {
	old := v.mode.Swap(&vendorMode{delay: d, release: make(chan struct{})})
	close(old.release)
}

// close answers the pushes waiting, closes the listener and connections,
// and waits for the serving goroutine.
func (v *fakeVendor) close() {
	v.once.Do(func() {
		close(v.mode.Load().release)
		v.srv.Close()
		v.wg.Wait()
	})
}

func (v *fakeVendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST pushes here", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, "read error", http.StatusBadRequest)
		return
	}
	at := since()
	if err := webhook.Verify(v.secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), 0); err != nil {
		v.refused.Add(1)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	// The webhook vendor's JSON: ids and tokens need no escaping, and a
	// quote inside a string is escaped, so the keys are found as they are.
	token := string(field(body, `"token":"`))
	probe := bytes.HasSuffix(field(body, `"from":"`), []byte("probe"))
	ts, tsLen := parseUint(field(body, `"body":"`))
	if m := v.mode.Load(); m.delay > 0 {
		select {
		case <-time.After(m.delay):
		case <-m.release:
		case <-r.Context().Done():
			return // the server gave up: it sends again
		}
	}
	v.mu.Lock()
	if probe {
		v.probed[token] = true
	} else {
		v.byToken[token]++
		if strings.HasPrefix(token, v.tracked) {
			v.pushed.Add(1)
			v.last = time.Now()
			if t := int64(ts); tsLen > 0 && t >= v.from && t < v.to {
				v.lat.RecordValue(max((at-t)/1000, 1))
			}
		}
	}
	v.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// track counts in pushed, from 0, the pushes of the tokens that start
// with prefix.
func (v *fakeVendor) track(prefix string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.tracked, v.last = prefix, time.Time{}
	v.pushed.Store(0)
}

// window starts recording the send-to-push latency of messages sent in
// [from, to), since(), afresh if from moved.
func (v *fakeVendor) window(from, to int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if from != v.from {
		v.lat = newHistogram()
	}
	v.from, v.to = from, to
}

// latency returns a copy of the send-to-push latencies recorded.
func (v *fakeVendor) latency() *hdrhistogram.Histogram {
	h := newHistogram()
	v.mu.Lock()
	h.Merge(v.lat)
	v.mu.Unlock()
	return h
}

func (v *fakeVendor) lastPush() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.last
}

// counts returns the pushes of each token.
func (v *fakeVendor) counts(tokens []string) []int {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]int, len(tokens))
	for i, t := range tokens {
		out[i] = v.byToken[t]
	}
	return out
}

// unprobed returns the indexes of tokens with no probe push yet.
func (v *fakeVendor) unprobed(tokens []string) []int {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []int
	for i, t := range tokens {
		if !v.probed[t] {
			out = append(out, i)
		}
	}
	return out
}
