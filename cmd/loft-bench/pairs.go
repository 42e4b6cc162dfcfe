package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// pairsLoad is the engine of direct, latency and ceiling: senders each
// sending 1:1 messages to their own receiver, either keeping a window of
// sends in flight (rate 0) or at a fixed rate over all senders.
type pairsLoad struct {
	e        *env
	pairs    int
	window   int           // window mode: sends in flight per sender
	rate     int           // rate mode: messages per second over all senders
	duration time.Duration // measured time
	warmup   time.Duration // load before the measured window, not counted
	sync     bool          // receivers sync before the load (Loft: yes)

	sent, acked, delivered, failed atomic.Int64
	start                          time.Time    // of the load, for rate-mode schedules
	measureFrom                    atomic.Int64 // since() at the end of the warmup: earlier latencies are not recorded
	res                            *result
	resMu                          sync.Mutex

	sendRecv, sendAck *hdrhistogram.Histogram // merged at the end; guarded by resMu
	lateness          *hdrhistogram.Histogram // rate mode: actual minus intended send time; guarded by resMu
}

type pair struct {
	idx        int
	to         string
	send, recv *conn
	gotPts     uint64 // receiver: last pts seen; owned by the receive loop
}

// run connects the pairs, applies the load and fills a result.
func (l *pairsLoad) run(ctx context.Context) (*result, error) {
	e := l.e
	l.res = &result{Params: map[string]any{"pairs": l.pairs, "payload": e.opt.Payload, "duration": l.duration.String()}}
	if l.rate > 0 {
		l.res.Params["rate"] = l.rate
	} else {
		l.res.Params["window"] = l.window
	}
	l.sendRecv, l.sendAck, l.lateness = newHistogram(), newHistogram(), newHistogram()
	l.measureFrom.Store(1 << 62)

	ps, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, p := range ps {
			p.send.close()
			p.recv.close()
		}
	}()

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	readCtx, stopRead := context.WithCancel(context.Background())
	defer stopRead()
	var readers, writers sync.WaitGroup
	l.start = time.Now()
	for _, p := range ps {
		readers.Add(2)
		go func() { defer readers.Done(); l.receive(readCtx, p) }()
		credits := make(chan struct{}, max(l.window, 1))
		go func() { defer readers.Done(); l.readAcks(readCtx, p, credits) }()
		writers.Add(1)
		go func() { defer writers.Done(); l.sendLoop(loadCtx, p, credits) }()
	}

	prog := startProgress(e.log, "warmup", []string{"sent", "delivered"}, []*atomic.Int64{&l.sent, &l.delivered})
	select {
	case <-time.After(l.warmup):
	case <-ctx.Done():
	}
	prog.setLabel("measure")
	d0 := l.delivered.Load()
	u := e.startUsage()
	l.measureFrom.Store(since())
	select {
	case <-time.After(l.duration):
	case <-ctx.Done():
	}
	delivered := l.delivered.Load() - d0
	elapsed := time.Since(u.start)
	u.finish(l.res, float64(delivered), "deliveries")
	stopLoad()
	writers.Wait()

	// Drain: every send is answered, and every acked message arrives.
	prog.setLabel("drain")
	drainBy := time.Now().Add(15 * time.Second)
	for (l.acked.Load()+l.failed.Load() < l.sent.Load() || l.delivered.Load() < l.acked.Load()) && time.Now().Before(drainBy) {
		time.Sleep(10 * time.Millisecond)
	}
	prog.end()
	stopRead()
	for _, p := range ps { // unblock readers
		p.send.ws.CloseNow()
		p.recv.ws.CloseNow()
	}
	readers.Wait()

	r := l.res
	r.add("delivered_per_s", float64(delivered)/elapsed.Seconds(), "msg/s")
	r.add("sent", float64(l.sent.Load()), "msgs")
	r.add("acked", float64(l.acked.Load()), "msgs")
	r.add("delivered", float64(l.delivered.Load()), "msgs")
	r.addLatency("send_to_receive", l.sendRecv)
	r.addLatency("send_to_ack", l.sendAck)
	// How late the tool itself sent, included in the figures above: the
	// runtime's timers and the shared cores delay a due send.
	r.addLatency("tool_send_lateness", l.lateness)
	if n := l.failed.Load(); n > 0 {
		r.errorf("%d sends answered with an error", n)
	}
	if s, a := l.sent.Load(), l.acked.Load(); a+l.failed.Load() != s {
		r.errorf("%d of %d sends never answered", s-a-l.failed.Load(), s)
	}
	if a, d := l.acked.Load(), l.delivered.Load(); d != a {
		r.errorf("%d messages acked but %d delivered", a, d)
	}
	return r, nil
}

// connect logs in every receiver (synced, so it is live) and sender.
func (l *pairsLoad) connect(ctx context.Context) ([]*pair, error) {
	e := l.e
	ps := make([]*pair, l.pairs)
	var wg sync.WaitGroup
	errs := make(chan error, l.pairs)
	sem := make(chan struct{}, 16)
	for i := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			p, err := l.connectPair(ctx, i)
			if err != nil {
				errs <- err
				return
			}
			ps[i] = p
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		for _, p := range ps {
			if p != nil {
				p.send.close()
				p.recv.close()
			}
		}
		return nil, fmt.Errorf("connect: %w", err)
	}
	e.note("%d pairs connected", l.pairs)
	return ps, nil
}

func (l *pairsLoad) connectPair(ctx context.Context, i int) (*pair, error) {
	e := l.e
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p := &pair{idx: i, to: e.user("r", i)}
	var err error
	if p.recv, err = e.dial.dial(ctx); err != nil {
		return nil, err
	}
	a, err := p.recv.login(ctx, l.tokenFor(p.to), "d")
	if err != nil {
		return nil, err
	}
	if l.sync {
		if p.gotPts, err = p.recv.sync(ctx, a.head, func(uint64, []byte, int) {}); err != nil {
			return nil, err
		}
	}
	if p.send, err = e.dial.dial(ctx); err != nil {
		return nil, err
	}
	if _, err := p.send.login(ctx, l.tokenFor(e.user("s", i)), "d"); err != nil {
		return nil, err
	}
	return p, nil
}

func (l *pairsLoad) tokenFor(user string) string {
	if l.e.secret == nil {
		return user // the relay takes the token as the user id
	}
	return l.e.token(user)
}

// interval is a sender's time between messages in rate mode.
func (l *pairsLoad) interval() time.Duration {
	return time.Duration(int64(time.Second) * int64(l.pairs) / int64(l.rate))
}

// intended is when message n of pair i is due in rate mode; senders are
// phased evenly over one interval.
func (l *pairsLoad) intended(i int, n uint64) int64 {
	iv := int64(l.interval())
	return int64(l.start.Sub(epoch)) + iv*int64(i)/int64(l.pairs) + int64(n)*iv
}

// sendLoop writes p's sends: a burst for every batch of credits in window
// mode, or every message that is due in rate mode, one syscall per burst.
// Latency counts from the intended time, so a sender that falls behind
// does not hide the queueing (no coordinated omission).
func (l *pairsLoad) sendLoop(ctx context.Context, p *pair, credits chan struct{}) {
	late := newHistogram()
	defer l.merge(l.lateness, late)
	var buf, body []byte
	var n uint64
	for range cap(credits) {
		credits <- struct{}{}
	}
	for {
		k := 0
		if l.rate > 0 {
			due := l.intended(p.idx, n)
			if wait := time.Duration(due - since()); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
			now := since()
			for due := l.intended(p.idx, n+uint64(k)); due <= now; due = l.intended(p.idx, n+uint64(k)) {
				k++
			}
		} else {
			select {
			case <-credits:
				k = 1
			case <-ctx.Done():
				return
			}
			for k < cap(credits) {
				select {
				case <-credits:
					k++
					continue
				default:
				}
				break
			}
		}
		if l.e.opt.Cork {
			p.send.cork()
		}
		for range k {
			ts := since()
			if l.rate > 0 {
				due := l.intended(p.idx, n)
				if due >= l.measureFrom.Load() {
					late.RecordValue(max((ts-due)/1000, 1))
				}
				ts = due
			}
			body = l.e.body(body[:0], ts)
			buf = sendFrame(buf[:0], p.to, n, body)
			if err := p.send.write(buf); err != nil {
				l.fail("send", err)
				return
			}
			n++
			l.sent.Add(1)
		}
		if l.e.opt.Cork {
			if err := p.send.uncork(); err != nil {
				l.fail("send", err)
				return
			}
		}
	}
}

// readAcks reads the sender's answers: an ack returns a credit and records
// send-to-ack latency.
func (l *pairsLoad) readAcks(ctx context.Context, p *pair, credits chan struct{}) {
	h := newHistogram()
	defer l.merge(l.sendAck, h)
	for {
		f, err := p.send.read(ctx)
		if err != nil {
			if !errClosed(err) {
				l.fail("read acks", err)
			}
			return
		}
		now := since()
		switch frameType(f) {
		case "ack":
			n, _ := ackID(f)
			l.acked.Add(1)
			// Send-to-ack latency needs the send time: in rate mode it
			// is the schedule's.
			if l.rate > 0 {
				if t := l.intended(p.idx, n); t >= l.measureFrom.Load() {
					h.RecordValue(max((now-t)/1000, 1))
				}
			}
			giveCredit(credits)
		case "error":
			l.failed.Add(1)
			l.fail("send", errors.New(short(f)))
			giveCredit(credits)
		}
	}
}

// giveCredit frees a send slot; an answer beyond the window (a stray
// error) is not one.
func giveCredit(credits chan struct{}) {
	select {
	case credits <- struct{}{}:
	default:
	}
}

// receive reads the receiver's entries, checks their pts run on without gap
// or duplicate, and records send-to-receive latency.
func (l *pairsLoad) receive(ctx context.Context, p *pair) {
	h := newHistogram()
	defer l.merge(l.sendRecv, h)
	for {
		f, err := p.recv.read(ctx)
		if err != nil {
			if !errClosed(err) {
				l.fail("receive", err)
			}
			return
		}
		if frameType(f) != "messages" {
			continue
		}
		now := since()
		var got int64
		eachEntry(f, func(pts uint64, f []byte, at int) {
			if pts != p.gotPts+1 {
				l.fail("receive", fmt.Errorf("%s: entry %d after %d", p.to, pts, p.gotPts))
			}
			p.gotPts = pts
			got++
			if ts := int64(jsonUint(f[at:min(at+256, len(f))], `"body":{"t":`)); ts > 0 && ts >= l.measureFrom.Load() {
				h.RecordValue(max((now-ts)/1000, 1))
			}
		})
		l.delivered.Add(got)
	}
}

func (l *pairsLoad) merge(into, h *hdrhistogram.Histogram) {
	l.resMu.Lock()
	into.Merge(h)
	l.resMu.Unlock()
}

func (l *pairsLoad) fail(what string, err error) {
	l.resMu.Lock()
	l.res.errorf("%s: %v", what, err)
	l.resMu.Unlock()
}
