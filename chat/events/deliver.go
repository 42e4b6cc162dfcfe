package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loftchat/loft/offlinepush"
	"github.com/loftchat/loft/offlinepush/webhook"
)

// DeliveryIDHeader carries the delivery's id, the same on every attempt
// of one batch, so receivers dedupe retries by it (and each event by its
// id).
const DeliveryIDHeader = "Loft-Delivery-Id"

// Log attribute keys.
const (
	logEvent      = "event"
	logDelivery   = "delivery"
	logEvents     = "events"
	logURL        = "url"
	logStatus     = "status"
	logAttempts   = "attempts"
	logErr        = "err"
	logSuppressed = "suppressed" // like logs left out since the last
)

// logEvery is how often drops to one endpoint are logged, at most.
const logEvery = time.Minute

// dropLog is the last log of a kind of drop to an endpoint.
type dropLog struct {
	last       time.Time
	suppressed int
}

// Start starts the dispatcher, the delivery workers and Post's flusher; it
// sends what is queued in the KV, including jobs a previous Queue left.
// Calls after the first, or after Close, do nothing.
func (q *Queue) Start() {
	q.startOnce.Do(func() {
		if q.ctx.Err() != nil {
			return
		}
		work := make(chan job)
		done := make(chan finished, workers)
		var delivering sync.WaitGroup
		q.wg.Add(3 + workers)
		delivering.Add(workers)
		go func() {
			defer q.wg.Done()
			q.flush(q.ctx)
		}()
		go func() {
			defer q.wg.Done()
			defer close(work)
			q.dispatch(work)
		}()
		for range workers {
			go func() {
				defer q.wg.Done()
				defer delivering.Done()
				for j := range work {
					if f, ok := q.deliver(j); ok {
						done <- f
					}
				}
			}()
		}
		go func() {
			defer q.wg.Done()
			q.finishAll(done)
		}()
		go func() {
			delivering.Wait()
			close(done)
		}()
	})
}

// Close stops taking jobs and waits for the deliveries in flight to end.
// If ctx ends first, it aborts them (their jobs stay queued as they were,
// for the next Queue), waits for them to return, and returns ctx's error.
// It is safe to call twice; queued jobs stay in the KV.
func (q *Queue) Close(ctx context.Context) error {
	q.closeOnce.Do(func() { q.startOnce.Do(func() {}) })
	q.cancel()
	done := make(chan struct{})
	go func() {
		q.wg.Wait()
		q.postMu.Lock()
		q.postClosed = true // Posts from now on are lost, as are any never flushed
		q.lost.Add(uint64(len(q.posted)))
		q.posted = nil
		q.postMu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		q.cancelSend()
		<-done
		return ctx.Err()
	}
}

// dispatch lists due jobs and hands them to the workers until Close. It
// reads the KV again when it has handed out what it listed and a job was
// queued or finished, or the next one is due.
func (q *Queue) dispatch(work chan<- job) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var fullScan time.Time
	for {
		select {
		case <-q.ctx.Done():
			return
		case <-q.wake:
		case <-timer.C:
		}
		now := q.now()
		if now.Sub(fullScan) >= fullScanPeriod || now.Before(fullScan) {
			// Now and then, read the queue from its start: a job written
			// by another Queue on the KV has not lowered this one's bound.
			fullScan = now
			q.lowMu.Lock()
			q.low = math.MinInt64
			q.lowMu.Unlock()
		}
		ready, next := q.listDue(now)
		if len(ready) == maxScan {
			next = 0 // a backlog: list the rest once these are handed out
		}
		for _, j := range ready {
			select {
			case work <- j:
			case <-q.ctx.Done():
				q.release(j.key())
				return
			}
		}
		timer.Reset(next)
	}
}

// untilDue is how long from nowMs until due (Unix ms, after nowMs), at
// most scanPeriod. The bound of an empty queue is MaxInt64: the difference
// in ms overflows a Duration, which a timer takes as "now" and would spin.
func untilDue(due, nowMs int64) time.Duration {
	if due-nowMs >= scanPeriod.Milliseconds() {
		return scanPeriod
	}
	return time.Duration(due-nowMs) * time.Millisecond
}

// errStop ends a scan early.
var errStop = errors.New("events: stop")

// listDue returns up to maxScan due jobs not in flight, marked in flight,
// and how long until the first job that is not due yet (at most
// scanPeriod). It reads from the lower bound q.low, not over the deleted
// jobs before it, and moves the bound to the first job it saw, or past
// the range it read if it saw none.
func (q *Queue) listDue(now time.Time) ([]job, time.Duration) {
	nowMs := now.UnixMilli()
	q.lowMu.Lock()
	from := q.low
	if from > nowMs {
		q.lowMu.Unlock()
		return nil, untilDue(from, nowMs)
	}
	q.low = math.MaxInt64 // writers lower it while this scan runs
	q.lowMu.Unlock()

	next := scanPeriod
	first := int64(math.MaxInt64) // the due time of the first job seen
	var ready []job
	var bad [][]byte
	visit := func(k, v []byte) error {
		if len(ready) >= maxScan {
			return errStop
		}
		if len(k) < 9 {
			return nil
		}
		at := int64(binary.BigEndian.Uint64(k[1:9]))
		if first == math.MaxInt64 {
			first = at
		}
		if at > nowMs {
			next = min(next, untilDue(at, nowMs))
			return errStop
		}
		q.inflightMu.Lock()
		busy := q.inflight[string(k)]
		if !busy {
			q.inflight[string(k)] = true
		}
		q.inflightMu.Unlock()
		if busy {
			return nil
		}
		j, err := decodeJob(k, v)
		if err != nil {
			q.log.Error("events: a queued job does not decode; dropping it", logErr, err)
			bad = append(bad, bytes.Clone(k)) // deleted after the scan: no write inside Scan
			return nil
		}
		ready = append(ready, j)
		return nil
	}
	var end int64 // every job due before end was seen
	var err error
	if from == math.MinInt64 {
		end, err = math.MaxInt64, q.kv.Scan([]byte{recJob}, visit)
	} else {
		end, err = scanFrom(q.kv, from, nowMs, visit)
	}
	if errors.Is(err, errStop) {
		err = nil
	}
	if err != nil {
		first = min(first, from) // read it all again
		if q.ctx.Err() == nil {
			q.log.Error("events: reading the queue failed", logErr, err)
		}
	}
	q.lowMu.Lock()
	q.low = min(q.low, first, end)
	q.lowMu.Unlock()
	for _, k := range bad {
		q.failed.Add(1) // an unknown count of events: one
		q.finish(k, nil)
	}
	return ready, next
}

// blockBits is the span of the smallest block of due times scanFrom reads
// with one prefix: 2^8 ms.
const blockBits = 8

// scanFrom calls fn with the jobs of kv in key order, starting at those
// due at from (and perhaps a few due in the 256 ms before it), until fn
// returns an error or it has read through the 256 ms block holding until.
// It returns the due time before which it passed fn every job. KV only
// scans by prefix, so it reads the range as blocks of due times that
// share a prefix of their big-endian bytes: the block of 256 ms holding
// from, then the largest aligned blocks (256 ms, 65 s, 4.7 h, ...) that
// end by until.
func scanFrom(kv offlinepush.KV, from, until int64, fn func(k, v []byte) error) (int64, error) {
	p := from &^ (1<<blockBits - 1)
	var prefix [9]byte
	prefix[0] = recJob
	for p <= until {
		bits, n := blockBits, 8-blockBits/8 // block size, due bytes in the prefix
		for n > 1 && p&(1<<(bits+8)-1) == 0 && p+1<<(bits+8)-1 <= until {
			bits, n = bits+8, n-1
		}
		binary.BigEndian.PutUint64(prefix[1:], uint64(p))
		if err := kv.Scan(prefix[:1+n], fn); err != nil {
			return p, err
		}
		p += 1 << bits
	}
	return p, nil
}

// release marks the job under key no longer in flight and wakes the
// dispatcher, which may have a retry due.
func (q *Queue) release(key []byte) {
	q.inflightMu.Lock()
	delete(q.inflight, string(key))
	q.inflightMu.Unlock()
	q.poke()
}

// finish applies ops with the deletion of the job under key, then
// releases it.
func (q *Queue) finish(key []byte, ops []offlinepush.Op) {
	ops = append(ops, offlinepush.Op{Key: key, Delete: true})
	if err := q.kv.Apply(context.Background(), ops...); err != nil {
		q.log.Error("events: updating the queue failed; the delivery may be repeated", logErr, err)
	}
	q.release(key)
}

// finished is a job a worker is done with: its key is deleted and, for a
// retry, the job rewritten under its new due time (retry.Due > 0); then
// its events count in stat (nil for a retry, which counts in q.retried).
type finished struct {
	key    []byte
	retry  job
	stat   *atomic.Uint64
	events int
}

// maxFinish is how many finished jobs one Apply updates at most.
const maxFinish = 256

// finishAll applies what the workers finished, as many jobs per Apply as
// have finished meanwhile, so a worker never waits for the store's sync:
// it only releases a job (which the dispatcher may then list again) once
// its update is durable. It returns when done is closed and drained.
func (q *Queue) finishAll(done <-chan finished) {
	var batch []finished
	var ops []offlinepush.Op
	for f := range done {
		batch = append(batch[:0], f)
	drain:
		for len(batch) < maxFinish {
			select {
			case f, ok := <-done:
				if !ok {
					break drain
				}
				batch = append(batch, f)
			default:
				break drain
			}
		}
		ops = ops[:0]
		for _, f := range batch {
			if f.retry.Due > 0 {
				ops = append(ops, offlinepush.Op{Key: f.retry.key(), Value: f.retry.value()})
			}
			ops = append(ops, offlinepush.Op{Key: f.key, Delete: true})
		}
		if err := q.kv.Apply(context.Background(), ops...); err != nil {
			q.log.Error("events: updating the queue failed; deliveries may be repeated", logErr, err, logEvents, len(batch))
		}
		low := int64(math.MaxInt64)
		q.inflightMu.Lock()
		for _, f := range batch {
			delete(q.inflight, string(f.key))
			if f.stat != nil {
				f.stat.Add(uint64(f.events))
			} else {
				q.retried.Add(1)
				low = min(low, f.retry.Due)
			}
		}
		q.inflightMu.Unlock()
		q.lower(low) // and wake the dispatcher: a retry may be due
	}
}

// outcome is what one attempt's answer asks the queue to do.
type outcome int

const (
	outcomeDelivered outcome = iota
	outcomeRetry
	outcomeDrop
	outcomeAborted // Close gave up waiting: leave the job as it is
)

// deliver makes one attempt at j, one request for its events, and
// returns what to do with it; ok false if it released the job as it is.
func (q *Queue) deliver(j job) (f finished, ok bool) {
	key := j.key()
	// A scan may list a job a worker finished since (the scan read it
	// before the deletion, the in-flight check came after the release):
	// act only on a job still queued.
	if _, queued, err := q.kv.Get(key); err != nil || !queued {
		q.release(key)
		return finished{}, false
	}
	drop := finished{key: key, stat: &q.failed, events: j.Events}
	secret, ok := q.secrets[j.URL]
	if !ok {
		q.logDrop(j, "events: dropping a delivery to an endpoint no longer configured", 0, nil)
		return drop, true
	}
	out, status, retryAfter, err := q.post(j, secret)
	if out == outcomeAborted {
		q.release(key)
		return finished{}, false
	}
	j.Attempts++
	switch out {
	case outcomeDelivered:
		return finished{key: key, stat: &q.delivered, events: j.Events}, true
	case outcomeDrop:
		if status == http.StatusGone {
			q.logDrop(j, "events: the endpoint answered 410 Gone; dropping the delivery", status, nil)
		} else {
			q.logDrop(j, "events: the endpoint refused a delivery; dropping it", status, err)
		}
		return drop, true
	default: // outcomeRetry
		now := q.now()
		at := now.Add(backoff(q.minBack, j.Attempts, retryAfter))
		if j.Attempts >= q.maxTries || at.UnixMilli() > j.Deadline {
			q.logDrop(j, "events: giving up on a delivery", status, err)
			return drop, true
		}
		// A later due time (never the same key), after the dispatcher's
		// lower bound, which finishAll moves back if need be.
		j.Due = max(at.UnixMilli(), j.Due+1)
		return finished{key: key, retry: j}, true
	}
}

// post sends j's body, signed, and sorts the answer. status is the HTTP
// status (0 without an answer), err the network error or the answer's
// start.
func (q *Queue) post(j job, secret []byte) (out outcome, status int, retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(q.sendCtx, http.MethodPost, j.URL, bytes.NewReader(j.Body))
	if err != nil {
		return outcomeDrop, 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Loft-Events")
	req.Header.Set(DeliveryIDHeader, j.ID)
	req.Header.Set(webhook.SignatureHeader, sign(secret, q.now(), j.Body))
	resp, err := q.http.Do(req)
	if err != nil {
		if q.sendCtx.Err() != nil {
			return outcomeAborted, 0, 0, err
		}
		return outcomeRetry, 0, 0, err // network error or timeout
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return outcomeDelivered, s, 0, nil
	case s == http.StatusGone:
		return outcomeDrop, s, 0, nil
	case s == http.StatusTooManyRequests || s == http.StatusRequestTimeout || s >= 500:
		err = errors.New(offlinepush.Truncate(string(answer), 200))
		return outcomeRetry, s, offlinepush.ParseRetryAfter(resp.Header.Get("Retry-After"), q.now()), err
	default:
		return outcomeDrop, s, 0, errors.New(offlinepush.Truncate(string(answer), 200))
	}
}

// backoff is the wait before attempt n+1: exponential from base, with
// jitter (50-150%), at most an hour, and never less than the endpoint's
// Retry-After (clamped to an hour).
func backoff(base time.Duration, attempts int, retryAfter time.Duration) time.Duration {
	d := base << min(max(attempts-1, 0), 20)
	d = d/2 + rand.N(d)
	d = min(d, maxBackoff)
	return max(d, min(retryAfter, maxBackoff))
}

// sign returns the webhook.SignatureHeader value for body sent at t, as
// offlinepush/webhook signs (it does not export its signer):
// t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>.
func sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(h.Sum(nil))
}

// logDrop logs a dropped delivery, at most once per logEvery per endpoint
// and message; the next log says how many it left out.
func (q *Queue) logDrop(j job, msg string, status int, err error) {
	if suppressed, ok := q.logDue(j.URL + "\x00" + msg); ok {
		q.log.Warn(msg, logDelivery, j.ID, logEvents, j.Events, logURL, j.URL, logStatus, status, logAttempts, j.Attempts, logErr, err, logSuppressed, suppressed)
	}
}

// logDue reports whether a log of kind k is due (none in the last
// logEvery), and how many were left out since the last; a log not due is
// counted as left out.
func (q *Queue) logDue(k string) (suppressed int, due bool) {
	now := q.now()
	q.dropLogMu.Lock()
	defer q.dropLogMu.Unlock()
	l := q.dropLogs[k]
	if !l.last.IsZero() && now.Sub(l.last) < logEvery {
		l.suppressed++
		q.dropLogs[k] = l
		return 0, false
	}
	q.dropLogs[k] = dropLog{last: now}
	return l.suppressed, true
}
