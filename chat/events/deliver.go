package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/loftchat/loft/offlinepush"
	"github.com/loftchat/loft/offlinepush/webhook"
)

// EventIDHeader carries the event's id on every attempt, so receivers
// dedupe retries.
const EventIDHeader = "Loft-Event-Id"

// Log attribute keys.
const (
	logEvent      = "event"
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
// sends what is queued in the KV, including jobs a previous Queue left. Calls after the
// first, or after Close, do nothing.
func (q *Queue) Start() {
	q.startOnce.Do(func() {
		if q.ctx.Err() != nil {
			return
		}
		work := make(chan job)
		q.wg.Add(2 + workers)
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
				for j := range work {
					q.deliver(j)
				}
			}()
		}
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
	for {
		select {
		case <-q.ctx.Done():
			return
		case <-q.wake:
		case <-timer.C:
		}
		ready, next := q.listDue(q.now())
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

// listDue returns up to maxScan due jobs not in flight, marked in flight,
// and how long until the first job that is not due yet (at most
// scanPeriod).
func (q *Queue) listDue(now time.Time) ([]job, time.Duration) {
	stop := errors.New("stop")
	next := scanPeriod
	var ready []job
	var bad [][]byte
	nowMs := now.UnixMilli()
	err := q.kv.Scan([]byte{recJob}, func(k, v []byte) error {
		if len(ready) >= maxScan {
			return stop
		}
		if len(k) < 9 {
			return nil
		}
		if at := int64(binary.BigEndian.Uint64(k[1:9])); at > nowMs {
			next = min(next, time.Duration(at-nowMs)*time.Millisecond)
			return stop
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
		var j job
		if err := json.Unmarshal(v, &j); err != nil || !bytes.Equal(j.key(), k) {
			q.log.Error("events: a queued job does not decode; dropping it", logErr, err)
			bad = append(bad, bytes.Clone(k)) // deleted after the scan: no write inside Scan
			return nil
		}
		ready = append(ready, j)
		return nil
	})
	if err != nil && !errors.Is(err, stop) && q.ctx.Err() == nil {
		q.log.Error("events: reading the queue failed", logErr, err)
	}
	for _, k := range bad {
		q.failed.Add(1)
		q.finish(k, nil)
	}
	return ready, next
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

// outcome is what one attempt's answer asks the queue to do.
type outcome int

const (
	outcomeDelivered outcome = iota
	outcomeRetry
	outcomeDrop
	outcomeAborted // Close gave up waiting: leave the job as it is
)

// deliver makes one attempt at j and deletes, reschedules or keeps it.
func (q *Queue) deliver(j job) {
	key := j.key()
	// A scan may list a job a worker finished since (the scan read it
	// before the deletion, the in-flight check came after the release):
	// act only on a job still queued.
	if _, queued, err := q.kv.Get(key); err != nil || !queued {
		q.release(key)
		return
	}
	secret, ok := q.secrets[j.URL]
	if !ok {
		q.logDrop(j, "events: dropping a delivery to an endpoint no longer configured", 0, nil)
		q.failed.Add(1)
		q.finish(key, nil)
		return
	}
	out, status, retryAfter, err := q.post(j, secret)
	if out == outcomeAborted {
		q.release(key)
		return
	}
	j.Attempts++
	switch out {
	case outcomeDelivered:
		q.delivered.Add(1)
		q.finish(key, nil)
	case outcomeDrop:
		if status == http.StatusGone {
			q.logDrop(j, "events: the endpoint answered 410 Gone; dropping the delivery", status, nil)
		} else {
			q.logDrop(j, "events: the endpoint refused a delivery; dropping it", status, err)
		}
		q.failed.Add(1)
		q.finish(key, nil)
	case outcomeRetry:
		now := q.now()
		at := now.Add(backoff(q.minBack, j.Attempts, retryAfter))
		if j.Attempts >= q.maxTries || at.UnixMilli() > j.Deadline {
			q.logDrop(j, "events: giving up on a delivery", status, err)
			q.failed.Add(1)
			q.finish(key, nil)
			return
		}
		j.Due = at.UnixMilli()
		v, _ := json.Marshal(j)
		q.retried.Add(1)
		q.finish(key, []offlinepush.Op{{Key: j.key(), Value: v}})
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
	req.Header.Set(EventIDHeader, j.EventID)
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
		q.log.Warn(msg, logEvent, j.EventID, logURL, j.URL, logStatus, status, logAttempts, j.Attempts, logErr, err, logSuppressed, suppressed)
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
