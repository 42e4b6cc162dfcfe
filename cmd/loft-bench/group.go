package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// runGroup measures a group's write fan-out: --members users, one live
// device each, in one group; --senders of them keep --window sends in
// flight to it, and every member's device counts the entries it receives.
func runGroup(ctx context.Context, e *env) (*result, error) {
	n, s := e.opt.Members, e.opt.Senders
	if n < 2 || s < 1 || s > n {
		return nil, fmt.Errorf("--members must be at least 2 and --senders 1 to --members (have %d, %d)", n, s)
	}
	g := &groupLoad{e: e, window: max(e.opt.Window, 1), duration: e.opt.Duration, warmup: min(2*time.Second, e.opt.Duration/4),
		readFanout: make(chan struct{})}
	g.res = &result{Params: map[string]any{"members": n, "senders": s, "window": g.window, "payload": e.opt.Payload, "duration": g.duration.String()}}
	return g.run(ctx)
}

// groupLoad is the group scenario's state.
type groupLoad struct {
	e        *env
	window   int
	duration time.Duration
	warmup   time.Duration
	members  []*member
	conv     string        // the group; set by create before base, read by senders
	convKey  []byte        // `"conv":"` conv `"`, read by readers after base
	base     atomic.Uint64 // the group's seq once set up (0 before): bench messages follow it

	sent, acked, failed, delivered atomic.Int64

	readFanout     chan struct{} // closed at the first group_seq frame
	readFanoutOnce sync.Once

	res   *result
	resMu sync.Mutex
}

// member is one member's device. Its reader owns the fields after ctl.
type member struct {
	user    string
	c       *conn
	credits chan struct{} // senders: free send slots; nil for the others
	ctl     chan []byte   // answers to the setup frames (non-numeric ids)

	pts     uint64 // last pts seen
	nextSeq uint64 // group seq the next bench entry must carry; 0 before the first
	got     int64  // bench entries received
	bad     bool   // a problem was reported: one per member is enough
}

func (g *groupLoad) run(ctx context.Context) (*result, error) {
	e, r := g.e, g.res
	if err := g.connect(ctx); err != nil {
		return nil, err
	}
	readCtx, stopRead := context.WithCancel(context.Background())
	var readers sync.WaitGroup
	for _, m := range g.members {
		readers.Add(1)
		go func() { defer readers.Done(); g.receive(readCtx, m) }()
	}
	stop := func() {
		stopRead()
		g.closeAll() // unblocks the readers
		readers.Wait()
	}
	defer stop() // on an early return; safe after the first
	t0 := time.Now()
	if err := g.create(ctx); err != nil {
		return nil, err
	}
	createTime := time.Since(t0)
	e.note("group %s of %d members created", g.conv, len(g.members))

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var writers sync.WaitGroup
	for _, m := range g.members[:e.opt.Senders] {
		writers.Add(1)
		go func() { defer writers.Done(); g.sendLoop(loadCtx, m) }()
	}
	prog := startProgress(e.log, "warmup", []string{"acked", "delivered"}, []*atomic.Int64{&g.acked, &g.delivered})
	wait := func(d time.Duration) {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		case <-g.readFanout:
		}
	}
	wait(g.warmup)
	prog.setLabel("measure")
	d0, a0 := g.delivered.Load(), g.acked.Load()
	u := e.startUsage()
	wait(g.duration)
	delivered, acked := g.delivered.Load()-d0, g.acked.Load()-a0
	elapsed := time.Since(u.start)
	cpu := &result{}
	u.finish(cpu, float64(delivered), "deliveries")
	stopLoad()
	writers.Wait()

	// Drain: every send is answered, and every acked message reaches
	// every member.
	prog.setLabel("drain")
	n := int64(len(g.members))
	drainBy := time.Now().Add(30 * time.Second)
	for (g.acked.Load()+g.failed.Load() < g.sent.Load() || g.delivered.Load() < g.acked.Load()*n) && time.Now().Before(drainBy) {
		select {
		case <-time.After(10 * time.Millisecond):
		case <-g.readFanout:
			drainBy = time.Now()
		}
	}
	prog.end()
	stop()

	select {
	case <-g.readFanout:
		return nil, fmt.Errorf("the server made the group of %d read fan-out (group_seq frames, not entries): "+
			"start it with --group-fanout of at least %d (--server-flags with --server)", n, n)
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.add("delivered_per_s", float64(delivered)/elapsed.Seconds(), "deliveries/s")
	r.add("acked_per_s", float64(acked)/elapsed.Seconds(), "msg/s")
	r.add("sent", float64(g.sent.Load()), "msgs")
	r.add("acked", float64(g.acked.Load()), "msgs")
	r.add("delivered", float64(g.delivered.Load()), "deliveries")
	r.Metrics = append(r.Metrics, cpu.Metrics...)
	r.Errors = append(r.Errors, cpu.Errors...)
	r.add("group_create", createTime.Seconds()*1000, "ms")
	if f := g.failed.Load(); f > 0 {
		r.errorf("%d sends answered with an error", f)
	}
	if s, a, f := g.sent.Load(), g.acked.Load(), g.failed.Load(); a+f != s {
		r.errorf("%d of %d sends never answered", s-a-f, s)
	}
	// Each member's bench entries carried consecutive group seqs from the
	// first after the setup (checked as they came); as many as were acked
	// means every acked message reached every member exactly once.
	missing := 0
	for _, m := range g.members {
		if m.got != g.acked.Load() {
			if missing == 0 {
				r.errorf("%s got %d of %d acked messages", m.user, m.got, g.acked.Load())
			}
			missing++
		}
	}
	if missing > 1 {
		r.errorf("%d members in all missed messages", missing)
	}
	return r, nil
}

// connect logs every member in with one device and syncs it, so it is live.
func (g *groupLoad) connect(ctx context.Context) error {
	e := g.e
	n := e.opt.Members
	tokens := e.tokens("m", n)
	g.members = make([]*member, n)
	for i := range g.members {
		g.members[i] = &member{user: e.user("m", i), ctl: make(chan []byte, 1)}
		if i < e.opt.Senders {
			g.members[i].credits = make(chan struct{}, g.window)
		}
	}
	var opened atomic.Int64
	prog := startProgress(e.log, "connect", []string{"members"}, []*atomic.Int64{&opened})
	err := forEach(ctx, n, e.opt.Concurrency, func(ctx context.Context, i int) error {
		m := g.members[i]
		c, err := e.dial.dial(ctx)
		if err != nil {
			return err
		}
		m.c = c
		a, err := c.login(ctx, tokens[i], "d")
		if err != nil {
			return err
		}
		if m.pts, err = c.sync(ctx, a.head, func(uint64, []byte, int) {}); err != nil {
			return err
		}
		opened.Add(1)
		return nil
	})
	prog.end()
	if err != nil {
		g.closeAll()
		return fmt.Errorf("connect: after %d members: %w", opened.Load(), err)
	}
	return nil
}

func (g *groupLoad) closeAll() {
	conns := make([]*conn, len(g.members))
	for i, m := range g.members {
		conns[i] = m.c
	}
	closeAll(conns)
}

// Limits of one group frame: the server takes at most 1000 users per
// request, and closes a connection on a frame over its MaxBody + 4 KiB
// (20 KiB by default).
const (
	groupFrameUsers = 1000
	groupFrameBytes = 16 << 10
)

// create has member 0 create the group with everyone else in it: a
// group_create frame, then group_add frames for the users that did not fit.
func (g *groupLoad) create(ctx context.Context) error {
	owner := g.members[0]
	users := make([]string, 0, len(g.members)-1)
	for _, m := range g.members[1:] {
		users = append(users, m.user)
	}
	var base uint64
	for i, part := range groupChunks(users, groupFrameUsers, groupFrameBytes) {
		b := []byte(`{"type":"group_create","id":"g`)
		if i > 0 {
			b = []byte(`{"type":"group_add","id":"g`)
		}
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","cid":"group`...)
		b = strconv.AppendInt(b, int64(i), 10)
		if i == 0 {
			b = append(b, `","name":"bench`...)
		} else {
			b = append(b, `","conv":"`...)
			b = append(b, g.conv...)
		}
		b = append(b, `","users":[`...)
		for j, u := range part {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, u...)
			b = append(b, '"')
		}
		b = append(b, "]}"...)
		if err := owner.c.write(b); err != nil {
			return fmt.Errorf("group setup: %w", err)
		}
		var f []byte
		select {
		case f = <-owner.ctl:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(30 * time.Second):
			return errors.New("group setup: no answer within 30 s")
		}
		if frameType(f) != "ack" {
			return fmt.Errorf("group setup: %s", short(f))
		}
		if i == 0 {
			g.conv = string(field(f, `"conv":"`))
			g.convKey = []byte(`"conv":"` + g.conv + `"`)
		}
		base = jsonUint(f, `"seq":`)
	}
	if g.conv == "" || base == 0 {
		return errors.New("group setup: the ack names no group")
	}
	g.base.Store(base)
	return nil
}

// groupChunks splits users into runs of at most maxUsers whose quoted,
// comma-separated ids take at most maxBytes.
func groupChunks(users []string, maxUsers, maxBytes int) [][]string {
	var out [][]string
	start, size := 0, 0
	for i, u := range users {
		if i > start && (i-start == maxUsers || size+len(u)+3 > maxBytes) {
			out = append(out, users[start:i])
			start, size = i, 0
		}
		size += len(u) + 3
	}
	if start < len(users) || len(out) == 0 {
		out = append(out, users[start:])
	}
	return out
}

// groupSendFrame appends a send to conv with a numeric id and cid n.
func groupSendFrame(b []byte, conv string, n uint64, body []byte) []byte {
	b = append(b, `{"type":"send","id":"`...)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, `","conv":"`...)
	b = append(b, conv...)
	b = append(b, `","cid":"c`...)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, `","body":`...)
	b = append(b, body...)
	return append(b, '}')
}

// sendLoop keeps the window of m's sends in flight: a burst for every
// batch of freed slots.
func (g *groupLoad) sendLoop(ctx context.Context, m *member) {
	var buf, body []byte
	var n uint64
	for range cap(m.credits) {
		m.credits <- struct{}{}
	}
	for {
		k := 0
		select {
		case <-m.credits:
			k = 1
		case <-ctx.Done():
			return
		}
		for more := true; more && k < cap(m.credits); {
			select {
			case <-m.credits:
				k++
			default:
				more = false
			}
		}
		if g.e.opt.Cork {
			m.c.cork()
		}
		for range k {
			body = g.e.body(body[:0], since())
			buf = groupSendFrame(buf[:0], g.conv, n, body)
			if err := m.c.write(buf); err != nil {
				g.fail(m, "send", err)
				return
			}
			n++
			g.sent.Add(1)
		}
		if g.e.opt.Cork {
			if err := m.c.uncork(); err != nil {
				g.fail(m, "send", err)
				return
			}
		}
	}
}

// receive reads m's frames: entries are checked and counted, acks free a
// send slot, and answers to the setup frames go to m.ctl.
func (g *groupLoad) receive(ctx context.Context, m *member) {
	for {
		f, err := m.c.read(ctx)
		if err != nil {
			if ctx.Err() == nil { // the server closed it during the load
				g.fail(m, "receive", err)
			}
			return
		}
		switch frameType(f) {
		case "messages":
			var got int64
			eachEntry(f, func(pts uint64, f []byte, at int) {
				if g.entry(m, pts, f[at:]) {
					got++
				}
			})
			m.got += got
			g.delivered.Add(got)
		case "ack":
			if _, ok := ackID(f); ok {
				g.acked.Add(1)
				giveCredit(m.credits)
			} else {
				g.setupAnswer(m, f)
			}
		case "error":
			if _, ok := errorID(f); ok {
				g.failed.Add(1)
				g.fail(m, "send", errors.New(short(f)))
				giveCredit(m.credits)
			} else {
				g.setupAnswer(m, f)
			}
		default:
			if bytes.HasPrefix(f, []byte(`{"type":"group_seq"`)) {
				g.readFanoutOnce.Do(func() { close(g.readFanout) })
			}
		}
	}
}

// entry checks one inbox entry of m (rest is the frame after its pts) and
// reports whether it is a bench message: pts must run on from the last
// without gap or duplicate, and bench messages must carry the group's seqs
// in order, from the first after the setup, none skipped.
func (g *groupLoad) entry(m *member, pts uint64, rest []byte) bool {
	if pts != m.pts+1 {
		g.problem(m, fmt.Errorf("entry %d after %d", pts, m.pts))
	}
	m.pts = pts
	end := bytes.Index(rest, []byte(`"body":`))
	if end < 0 {
		g.problem(m, fmt.Errorf("entry %d has no body", pts))
		return false
	}
	head := rest[:end]
	if bytes.Contains(head, []byte(`"kind":`)) {
		return false // a membership event of the setup
	}
	// Loaded first: the store publishes g.convKey to this goroutine.
	base := g.base.Load()
	if base == 0 {
		g.problem(m, fmt.Errorf("entry %d arrived before the group was set up: %s", pts, short(head)))
		return false
	}
	if !bytes.Contains(head, g.convKey) {
		g.problem(m, fmt.Errorf("entry %d is not in the group: %s", pts, short(head)))
		return false
	}
	seq := jsonUint(head, `"seq":`)
	if m.nextSeq == 0 {
		m.nextSeq = base + 1
	}
	if seq != m.nextSeq {
		g.problem(m, fmt.Errorf("group seq %d where %d was due", seq, m.nextSeq))
	}
	m.nextSeq = seq + 1
	return true
}

// errorID returns the numeric id of an error frame.
func errorID(f []byte) (uint64, bool) {
	const p = `{"type":"error","id":"`
	if !bytes.HasPrefix(f, []byte(p)) {
		return 0, false
	}
	v, n := parseUint(f[len(p):])
	return v, n > 0 && len(f) > len(p)+n && f[len(p)+n] == '"'
}

// setupAnswer hands an answer to a setup frame to create; a stray one
// (nothing is waiting) is reported, never blocks the reader.
func (g *groupLoad) setupAnswer(m *member, f []byte) {
	select {
	case m.ctl <- bytes.Clone(f):
	default:
		g.fail(m, "receive", fmt.Errorf("unexpected %s", short(f)))
	}
}

// problem reports the first wrong entry a member saw.
func (g *groupLoad) problem(m *member, err error) {
	if !m.bad {
		m.bad = true
		g.fail(m, "receive", err)
	}
}

func (g *groupLoad) fail(m *member, what string, err error) {
	g.resMu.Lock()
	g.res.errorf("%s %s: %v", m.user, what, err)
	g.resMu.Unlock()
}
