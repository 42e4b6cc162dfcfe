package offlinepush

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// job is a queued push. It is stored under its due time, so the queue
// reads the due ones first; a retry moves it to its new due time.
type job struct {
	ID       uint64       `json:"id"`
	MsgID    uint64       `json:"msg_id,omitempty"` // 0 for a read update
	Conv     string       `json:"conv"`
	Binding  Binding      `json:"binding"`
	N        Notification `json:"n"`
	Attempts int          `json:"attempts,omitempty"`
	Deadline int64        `json:"deadline"` // Unix ms: give up after
	Due      int64        `json:"due"`      // Unix ms
}

// vendorState is a configured vendor and its send slots.
type vendorState struct {
	v     Vendor
	slots chan struct{} // one per send in flight

	mu            sync.Mutex
	disabledUntil time.Time // guarded by mu: after an auth failure
}

// disabledOrMissing reports whether the vendor rests after an auth failure;
// a nil vendor is not disabled (the caller handles it).
func (vs *vendorState) disabledOrMissing(now time.Time) (time.Time, bool) {
	if vs == nil {
		return time.Time{}, false
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.disabledUntil, now.Before(vs.disabledUntil)
}

// jobOp assigns j an id and its first due time (now) and returns its write.
func (s *Service) jobOp(now time.Time, j *job) Op {
	s.mu.Lock()
	s.jobSeq++
	j.ID = s.jobSeq
	s.mu.Unlock()
	j.Due = now.UnixMilli()
	v, _ := json.Marshal(j)
	return Op{Key: jobKey(j.Due, j.ID), Value: v}
}

// Backoff bounds.
const (
	maxBackoff      = time.Hour
	quotaBackoff    = time.Minute     // at least, after a quota error
	authPause       = 5 * time.Minute // a vendor that refused our credentials rests
	queueScanPeriod = time.Second     // the queue looks for due jobs at least this often
	maxScanJobs     = 1024            // due jobs one pass of the queue takes
)

// queueLoop sends due jobs, each in its vendor's slots, until Close. It
// lists due jobs from the KV into ready and hands them out as slots free
// up; it reads the KV again only when ready runs dry, new jobs were queued,
// or the timer says a later job is due, so a long backlog is read once, not
// once per send.
func (s *Service) queueLoop() {
	var mu sync.Mutex
	inflight := make(map[uint64]bool) // guarded by mu: job ids being sent
	freed := make(chan struct{}, 1)
	var sends sync.WaitGroup
	defer sends.Wait()
	var ready []job
	listed := make(map[uint64]bool) // ids in ready
	timer := time.NewTimer(0)
	defer timer.Stop()
	next := queueScanPeriod
	for {
		rescan := false
		select {
		case <-s.ctx.Done():
			return
		case <-s.wakeQ:
			rescan = true
		case <-timer.C:
			rescan = true
		case <-freed:
		}
		now := s.cfg.Now()
		if rescan || len(ready) == 0 {
			ready, next = s.listDue(now, ready, listed, func(id uint64) bool {
				mu.Lock()
				defer mu.Unlock()
				return inflight[id]
			})
		}
		kept := ready[:0]
		for _, j := range ready {
			vs := s.vendors[j.Binding.Vendor]
			switch until, off := vs.disabledOrMissing(now); {
			case vs == nil:
				s.finish(j, Outcome{Status: StatusFailed, Reason: "vendor " + j.Binding.Vendor + " is not configured"}, nil)
			case off:
				s.reschedule(j, until, "vendor paused after refusing our credentials")
			default:
				select {
				case vs.slots <- struct{}{}:
				default:
					kept = append(kept, j) // the vendor is busy; other vendors go on
					continue
				}
				mu.Lock()
				inflight[j.ID] = true
				mu.Unlock()
				sends.Add(1)
				go func() {
					defer sends.Done()
					s.send(vs, j)
					<-vs.slots
					mu.Lock()
					delete(inflight, j.ID)
					mu.Unlock()
					wake(freed)
				}()
			}
			delete(listed, j.ID)
		}
		ready = kept
		timer.Reset(next)
	}
}

// listDue appends to ready the due jobs that are neither listed nor in
// flight, up to maxScanJobs in ready, and returns when the first job that
// is not yet due is due (at most queueScanPeriod away).
func (s *Service) listDue(now time.Time, ready []job, listed map[uint64]bool, busy func(uint64) bool) ([]job, time.Duration) {
	stop := errors.New("stop")
	next := queueScanPeriod
	err := s.kv.Scan([]byte{recJob}, func(k, v []byte) error {
		if len(k) < 17 || len(ready) >= maxScanJobs {
			return stop
		}
		if at := int64(binary.BigEndian.Uint64(k[1:9])); at > now.UnixMilli() {
			next = min(next, time.Duration(at-now.UnixMilli())*time.Millisecond)
			return stop
		}
		if id := binary.BigEndian.Uint64(k[9:17]); listed[id] || busy(id) {
			return nil
		}
		var j job
		if err := json.Unmarshal(v, &j); err != nil {
			s.log.Error("offlinepush: a queued job does not decode; dropping it", "err", err)
			return nil
		}
		listed[j.ID] = true
		ready = append(ready, j)
		return nil
	})
	if err != nil && !errors.Is(err, stop) && s.ctx.Err() == nil {
		s.log.Error("offlinepush: reading the queue failed", "err", err)
	}
	return ready, next
}

// send makes one attempt at j and records its outcome. A scan may list a
// job that a send finished since: it is sent only if it is still queued
// as listed.
func (s *Service) send(vs *vendorState, j job) {
	if _, queued, err := s.kv.Get(jobKey(j.Due, j.ID)); err != nil || !queued {
		return
	}
	if isCampaign(j.MsgID) && s.cancelled(j.MsgID) {
		s.finish(j, Outcome{Status: StatusFailed, Reason: ReasonCancelled}, nil)
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.SendTimeout)
	err := vs.v.Send(ctx, &j.N)
	cancel()
	if s.ctx.Err() != nil {
		return // shutting down: the job stays queued as it was
	}
	j.Attempts++
	now := s.cfg.Now()
	if err == nil {
		var extra []Op
		if j.Conv != "" {
			extra = []Op{{Key: key(recPushed, j.Binding.User, j.Conv, j.Binding.Device), Value: be64(j.MsgID)}}
		}
		s.finish(j, Outcome{Status: StatusPushed, Vendor: vs.v.Name(), Silent: j.N.Silent, Attempts: j.Attempts}, extra)
		return
	}
	var verr *Error
	errors.As(err, &verr)
	code := err.Error()
	var retryAfter time.Duration
	if verr != nil {
		retryAfter = verr.RetryAfter
		if verr.Code != "" {
			code = verr.Code
		}
	}
	switch KindOf(err) {
	case KindTokenInvalid:
		removed, rerr := s.reg.removeToken(s.ctx, j.Binding)
		if rerr != nil {
			s.log.Error("offlinepush: removing an invalid token failed", "vendor", vs.v.Name(), "err", rerr)
		}
		s.finish(j, Outcome{Status: StatusFailed, Reason: "token_invalid: " + code, Vendor: vs.v.Name(), TokenRemoved: removed, Attempts: j.Attempts}, nil)
	case KindPayload:
		s.log.Error("offlinepush: the vendor refused a push", "vendor", vs.v.Name(), "err", err)
		s.finish(j, Outcome{Status: StatusFailed, Reason: "payload: " + code, Vendor: vs.v.Name(), Attempts: j.Attempts}, nil)
	case KindAuth:
		s.log.Error("offlinepush: the vendor refused our credentials; pausing it", "vendor", vs.v.Name(), "pause", authPause, "err", err)
		vs.mu.Lock()
		vs.disabledUntil = now.Add(authPause)
		vs.mu.Unlock()
		j.Attempts-- // our configuration, not the push, failed
		s.reschedule(j, now.Add(authPause), "vendor auth: "+code)
	default: // KindRetry, KindQuota
		wait := backoff(s.cfg.MinBackoff, j.Attempts, retryAfter)
		if KindOf(err) == KindQuota {
			wait = max(wait, s.cfg.QuotaBackoff)
		}
		next := now.Add(wait)
		if j.Attempts >= s.cfg.MaxAttempts || next.UnixMilli() > j.Deadline {
			s.finish(j, Outcome{Status: StatusFailed, Reason: "gave up: " + code, Vendor: vs.v.Name(), Attempts: j.Attempts}, nil)
			return
		}
		s.reschedule(j, next, code)
	}
}

// backoff is the wait before attempt n+1: exponential from base, with
// jitter, and never less than the vendor's Retry-After (clamped to an hour).
func backoff(base time.Duration, attempts int, retryAfter time.Duration) time.Duration {
	d := base << min(attempts-1, 12)
	d = d/2 + rand.N(d) // jitter: 50-150%
	d = min(d, maxBackoff)
	return max(d, min(retryAfter, maxBackoff))
}

// finish deletes j and records its outcome, with extra writes.
func (s *Service) finish(j job, o Outcome, extra []Op) {
	s.count(j.Binding.Vendor, o.Status)
	ops := append(extra, Op{Key: jobKey(j.Due, j.ID), Delete: true})
	if j.MsgID != 0 {
		o.MsgID, o.Conv, o.User, o.Device, o.At = j.MsgID, j.Conv, j.Binding.User, j.Binding.Device, s.cfg.Now().UnixMilli()
		v, _ := json.Marshal(o)
		ops = append(ops, Op{Key: outcomeKey(j.MsgID, o.User, o.Device), Value: v})
	}
	if err := s.kv.Apply(context.Background(), ops...); err != nil {
		s.log.Error("offlinepush: recording a push failed; it may be sent again", "err", err)
		return
	}
	if j.MsgID != 0 && s.cfg.OnOutcome != nil {
		s.cfg.OnOutcome(o)
	}
}

// reschedule moves j to due time at, noting why in its outcome.
func (s *Service) reschedule(j job, at time.Time, why string) {
	old := jobKey(j.Due, j.ID)
	j.Due = at.UnixMilli()
	v, _ := json.Marshal(j)
	ops := []Op{{Key: old, Delete: true}, {Key: jobKey(j.Due, j.ID), Value: v}}
	var o Outcome
	if j.MsgID != 0 {
		o = Outcome{MsgID: j.MsgID, Conv: j.Conv, User: j.Binding.User, Device: j.Binding.Device, Status: StatusQueued,
			Reason: "retrying: " + why, Vendor: j.Binding.Vendor, Silent: j.N.Silent, Attempts: j.Attempts, At: s.cfg.Now().UnixMilli()}
		ov, _ := json.Marshal(o)
		ops = append(ops, Op{Key: outcomeKey(j.MsgID, o.User, o.Device), Value: ov})
	}
	if err := s.kv.Apply(context.Background(), ops...); err != nil {
		s.log.Error("offlinepush: rescheduling a push failed", "err", err)
		return
	}
	if j.MsgID != 0 && s.cfg.OnOutcome != nil {
		s.cfg.OnOutcome(o)
	}
}

// QueueDepth counts the pushes queued (due or not): a scan of the queue's
// keys, for metrics scraped now and then.
func (s *Service) QueueDepth() (int, error) {
	n := 0
	err := s.kv.Scan([]byte{recJob}, func(_, _ []byte) error { n++; return nil })
	return n, err
}
