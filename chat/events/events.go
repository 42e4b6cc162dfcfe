package events

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

// Defaults and limits.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMinBackoff  = time.Second
	DefaultMaxAttempts = 15
	DefaultMaxAge      = 24 * time.Hour

	minSecret  = 16  // bytes, as offlinepush/webhook
	maxIDLen   = 128 // bytes of a caller's Event.ID
	maxTypeLen = 128 // bytes of an Event.Type
	workers    = 8   // deliveries in flight at most
	maxScan    = 256 // due jobs one pass of the dispatcher lists
	maxBackoff = time.Hour
	scanPeriod = time.Second // the dispatcher looks for due jobs at least this often

	fullScanPeriod = 5 * time.Minute // and reads the whole queue this often
)

// Errors of New and Emit.
var (
	ErrConfig = errors.New("events: invalid config")
	ErrEvent  = errors.New("events: invalid event")
)

// Endpoint is one of the app's receivers.
type Endpoint struct {
	// URL receives the POSTs, http or https. Required; unique in Config.
	URL string
	// Secret keys the HMAC-SHA256 signature; at least 16 bytes. Required.
	Secret string
	// Types are the event types the endpoint receives. Default (nil or
	// empty): all.
	Types []string
}

// wants reports whether e receives events of type typ.
func (e *Endpoint) wants(typ string) bool {
	return len(e.Types) == 0 || slices.Contains(e.Types, typ)
}

// Config configures a Queue.
type Config struct {
	// KV holds the queued deliveries; give the Queue a table of its own
	// (doc.go lists the keys). Required.
	KV offlinepush.KV
	// Endpoints receive the events. Default: none (Emit queues nothing).
	Endpoints []Endpoint
	// HTTPClient sends the requests. Default: a client with a 10 s
	// timeout that keeps up to 8 idle connections per host. Redirects are
	// never followed (a copy of the client is used).
	HTTPClient *http.Client
	// Now is the clock for due times, event times and signatures.
	// Default time.Now.
	Now func() time.Time
	// MinBackoff is the wait before the first retry; it doubles with each
	// attempt, with jitter, up to an hour. Default 1 s.
	MinBackoff time.Duration
	// MaxAttempts is how many times a delivery (a batch of events) is
	// tried before it is dropped. Default 15.
	MaxAttempts int
	// MaxAge is how long after Emit a delivery is retried before it is
	// dropped. Default 24 h.
	MaxAge time.Duration
	// Logger gets the dropped deliveries (at most one a minute per
	// endpoint and reason) and storage errors. Default slog.Default().
	Logger *slog.Logger
}

// Event is one server event.
type Event struct {
	// ID identifies the event to receivers, which dedupe by it (an event
	// is in one delivery per endpoint, but a receiver may see a delivery
	// twice). Default: assigned by Emit, unique and sortable by emit time. A
	// caller's ID is at most 128 bytes without 0x00.
	ID string
	// Type names the event, e.g. "message.stored", "push.failed",
	// "device.kicked". Required.
	Type string
	// Time is when the event happened. Default: Emit's time.
	Time time.Time
	// Data is the event's JSON payload. Default: null.
	Data json.RawMessage
}

// Stats counts deliveries since New. Queued, Delivered and Failed count
// events (one per event and endpoint, whatever the batching), Lost counts
// events, and Retried counts attempts: one per request that failed and
// whose job was rescheduled, however many events it carried.
type Stats struct {
	Queued    uint64 // events queued by Emit, per endpoint
	Delivered uint64 // events in requests answered 2xx
	Retried   uint64 // failed attempts (requests) that were rescheduled
	Failed    uint64 // events dropped: refused, too many attempts or too old
	Lost      uint64 // events Post could not hand off (see Post)
}

// Queue delivers events to the configured endpoints. Its methods are safe
// for concurrent use.
type Queue struct {
	kv        offlinepush.KV
	endpoints []Endpoint
	secrets   map[string][]byte // by URL
	http      *http.Client
	now       func() time.Time
	minBack   time.Duration
	maxTries  int
	maxAge    time.Duration
	log       *slog.Logger

	ctx        context.Context // done when Close starts: no new deliveries
	cancel     context.CancelFunc
	sendCtx    context.Context // done when Close gives up waiting: abort requests
	cancelSend context.CancelFunc
	wake       chan struct{} // 1-buffered: new or finished jobs
	wg         sync.WaitGroup
	startOnce  sync.Once
	closeOnce  sync.Once
	started    atomic.Bool

	idMu  sync.Mutex
	idMs  int64  // guarded by idMu: last id's milliseconds
	idSeq uint64 // guarded by idMu: last id's sequence

	inflightMu sync.Mutex
	inflight   map[string]bool // guarded by inflightMu: job keys being sent

	lowMu sync.Mutex
	// low is guarded by lowMu: every job is due at or after it, but for
	// those whose writer has not called lower yet; the dispatcher's scans
	// start there, not over the deleted jobs before it. math.MinInt64:
	// unknown, scan from the start.
	low int64

	dropLogMu sync.Mutex
	dropLogs  map[string]dropLog // guarded by dropLogMu: by URL and message

	postMu     sync.Mutex
	posted     []posted      // guarded by postMu: handed off by Post, not yet emitted
	postClosed bool          // guarded by postMu: the flusher has stopped
	postWake   chan struct{} // 1-buffered: posted is not empty

	queued, delivered, retried, failed, lost atomic.Uint64
}

// New validates cfg, fills its defaults and returns a Queue; Start starts
// delivering.
func New(cfg Config) (*Queue, error) {
	if cfg.KV == nil {
		return nil, fmt.Errorf("%w: KV is required", ErrConfig)
	}
	secrets := make(map[string][]byte, len(cfg.Endpoints))
	for i, e := range cfg.Endpoints {
		u, err := url.Parse(e.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: Endpoints[%d].URL %q is not an http or https URL", ErrConfig, i, e.URL)
		}
		if len(e.Secret) < minSecret {
			return nil, fmt.Errorf("%w: Endpoints[%d].Secret is %d bytes, want at least %d", ErrConfig, i, len(e.Secret), minSecret)
		}
		if _, dup := secrets[e.URL]; dup {
			return nil, fmt.Errorf("%w: Endpoints[%d].URL %q is configured twice", ErrConfig, i, e.URL)
		}
		secrets[e.URL] = []byte(e.Secret)
	}
	if cfg.MinBackoff < 0 || cfg.MaxAttempts < 0 || cfg.MaxAge < 0 {
		return nil, fmt.Errorf("%w: MinBackoff, MaxAttempts and MaxAge must not be negative", ErrConfig)
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc.Timeout = DefaultTimeout
		// Keep a connection per worker: the default keeps 2 per host, and
		// a busy endpoint would get a new connection for most requests.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = workers
		hc.Transport = t
	}
	// A redirected POST turns into a GET without the event; a moved
	// endpoint is a configuration to fix.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	q := &Queue{
		kv:        cfg.KV,
		endpoints: slices.Clone(cfg.Endpoints),
		secrets:   secrets,
		http:      &hc,
		now:       cfg.Now,
		minBack:   cfg.MinBackoff,
		maxTries:  cfg.MaxAttempts,
		maxAge:    cfg.MaxAge,
		log:       cfg.Logger.With("component", "events"),
		wake:      make(chan struct{}, 1),
		postWake:  make(chan struct{}, 1),
		inflight:  make(map[string]bool),
		dropLogs:  make(map[string]dropLog),
		idSeq:     rand.Uint64N(1 << 62),
		low:       math.MinInt64,
	}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	q.sendCtx, q.cancelSend = context.WithCancel(context.Background())
	return q, nil
}

// Batch limits: a job holds at most maxBatch events and, unless one event
// alone is larger, at most maxBatchBytes of body.
const (
	maxBatch      = 100
	maxBatchBytes = 256 << 10
)

// job is one queued delivery: a batch of events to one endpoint.
type job struct {
	ID       string // the delivery id, the same on every attempt
	URL      string
	Due      int64 // Unix ms
	Deadline int64 // Unix ms: give up after
	Attempts int
	Events   int    // how many events Body holds
	Body     []byte // {"events":[...]}
}

// recJob is the record kind of queued jobs (doc.go).
const recJob = 'j'

// jobVersion is the first byte of a job's value.
const jobVersion = 1

// jobKey is 'j' be64(due ms) delivery-id 0x00 URL.
func jobKey(due int64, id, url string) []byte {
	k := make([]byte, 0, 1+8+len(id)+1+len(url))
	k = append(k, recJob)
	k = binary.BigEndian.AppendUint64(k, uint64(due))
	k = append(k, id...)
	k = append(k, 0)
	return append(k, url...)
}

func (j *job) key() []byte { return jobKey(j.Due, j.ID, j.URL) }

// value encodes j's record: jobVersion, uvarint attempts, varint
// deadline, uvarint events, then the body's raw bytes.
func (j *job) value() []byte {
	v := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(j.Body))
	v = append(v, jobVersion)
	v = binary.AppendUvarint(v, uint64(j.Attempts))
	v = binary.AppendVarint(v, j.Deadline)
	v = binary.AppendUvarint(v, uint64(j.Events))
	return append(v, j.Body...)
}

// errJob is a record that does not decode.
var errJob = errors.New("events: malformed job record")

// decodeJob decodes the record k -> v; the body is copied.
func decodeJob(k, v []byte) (job, error) {
	if len(k) < 10 || k[0] != recJob || len(v) < 1 || v[0] != jobVersion {
		return job{}, errJob
	}
	id, url, ok := bytes.Cut(k[9:], []byte{0})
	if !ok {
		return job{}, errJob
	}
	j := job{ID: string(id), URL: string(url), Due: int64(binary.BigEndian.Uint64(k[1:9]))}
	v = v[1:]
	attempts, n := binary.Uvarint(v)
	if n <= 0 {
		return job{}, errJob
	}
	v = v[n:]
	j.Deadline, n = binary.Varint(v)
	if n <= 0 {
		return job{}, errJob
	}
	v = v[n:]
	events, n := binary.Uvarint(v)
	if n <= 0 || events == 0 || attempts > 1<<20 || events > 1<<20 {
		return job{}, errJob
	}
	j.Attempts, j.Events, j.Body = int(attempts), int(events), bytes.Clone(v[n:])
	return j, nil
}

// timeFormat is RFC 3339 with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// appendEvent appends ev as one element of a body's "events" array:
// {"id":...,"type":...,"time":...,"data":...}. ev.Data is valid JSON or
// empty (null).
func appendEvent(b []byte, ev *Event) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, ev.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, ev.Type)
	b = append(b, `,"time":"`...)
	b = ev.Time.UTC().AppendFormat(b, timeFormat)
	b = append(b, `","data":`...)
	if len(ev.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, ev.Data...)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}

// Emit queues ev for each endpoint that wants its type, in one Apply, and
// returns once it is durable; it never waits for the network. It assigns
// ev.ID and ev.Time when they are empty. An event no endpoint wants is not
// written.
func (q *Queue) Emit(ctx context.Context, ev Event) error {
	return q.EmitAll(ctx, ev)
}

// EmitAll is Emit for several events in one Apply: all are queued or none
// is. The events each endpoint wants are grouped, in order, into jobs of
// at most 100 events and about 256 KiB of body, each one request. An
// invalid event fails the call before anything is written.
func (q *Queue) EmitAll(ctx context.Context, evs ...Event) error {
	return q.emitAll(ctx, evs, false)
}

// emitAll is EmitAll; dataValid says the events' Data are known to be
// valid JSON (json.Marshal's output), not to be checked again.
func (q *Queue) emitAll(ctx context.Context, evs []Event, dataValid bool) error {
	for i := range evs {
		ev := &evs[i]
		switch {
		case ev.Type == "" || len(ev.Type) > maxTypeLen:
			return fmt.Errorf("%w: Type must be 1 to %d bytes", ErrEvent, maxTypeLen)
		case len(ev.ID) > maxIDLen || strings.IndexByte(ev.ID, 0) >= 0:
			return fmt.Errorf("%w: ID must be at most %d bytes without 0x00", ErrEvent, maxIDLen)
		case !dataValid && len(ev.Data) > 0 && !json.Valid(ev.Data):
			return fmt.Errorf("%w: Data of %s is not valid JSON", ErrEvent, ev.Type)
		}
	}
	now := q.now()
	due, deadline := now.UnixMilli(), now.Add(q.maxAge).UnixMilli()
	// Each wanted event is encoded once, whatever the number of endpoints.
	encoded := make([][]byte, len(evs))
	for i := range evs {
		ev := evs[i] // a copy: the caller's events are left as they are
		if !q.Wants(ev.Type) {
			continue
		}
		if ev.ID == "" {
			ev.ID = q.newID(now)
		}
		if ev.Time.IsZero() {
			ev.Time = now
		}
		encoded[i] = appendEvent(nil, &ev)
	}
	var ops []offlinepush.Op
	var queued uint64
	for e := range q.endpoints {
		ep := &q.endpoints[e]
		var body []byte
		n := 0
		cut := func() {
			if n == 0 {
				return
			}
			body = append(body, "]}"...)
			j := job{ID: q.newID(now), URL: ep.URL, Due: due, Deadline: deadline, Events: n, Body: body}
			ops = append(ops, offlinepush.Op{Key: j.key(), Value: j.value()})
			queued += uint64(n)
			body, n = nil, 0
		}
		for i, el := range encoded {
			if el == nil || !ep.wants(evs[i].Type) {
				continue
			}
			if n == maxBatch || (n > 0 && len(body)+1+len(el)+2 > maxBatchBytes) {
				cut()
			}
			if n == 0 {
				body = append(make([]byte, 0, min(maxBatchBytes, 16+len(el)*min(maxBatch, len(evs)))), `{"events":[`...)
			} else {
				body = append(body, ',')
			}
			body = append(body, el...)
			n++
		}
		cut()
	}
	if len(ops) == 0 {
		return nil
	}
	if err := q.kv.Apply(ctx, ops...); err != nil {
		return fmt.Errorf("events: queueing %d events: %w", len(evs), err)
	}
	q.queued.Add(queued)
	q.lower(due)
	return nil
}

// Wants reports whether some endpoint receives events of type typ, so that
// callers skip building events nobody receives.
func (q *Queue) Wants(typ string) bool {
	for i := range q.endpoints {
		if q.endpoints[i].wants(typ) {
			return true
		}
	}
	return false
}

// newID returns 12 hex digits of Unix milliseconds then 16 of a sequence
// that starts at random and only grows, so ids sort by emit time within a
// process and do not collide across processes.
func (q *Queue) newID(now time.Time) string {
	q.idMu.Lock()
	ms := max(now.UnixMilli(), q.idMs)
	q.idMs = ms
	q.idSeq++
	seq := q.idSeq
	q.idMu.Unlock()
	var b [14]byte
	binary.BigEndian.PutUint64(b[:8], uint64(ms)<<16)
	binary.BigEndian.PutUint64(b[6:], seq)
	return hex.EncodeToString(b[:])
}

// Stats returns the delivery counts since New.
func (q *Queue) Stats() Stats {
	return Stats{
		Queued:    q.queued.Load(),
		Delivered: q.delivered.Load(),
		Retried:   q.retried.Load(),
		Failed:    q.failed.Load(),
		Lost:      q.lost.Load(),
	}
}

// lower tells the dispatcher that a job due at due was written (its Apply
// returned), and wakes it.
func (q *Queue) lower(due int64) {
	q.lowMu.Lock()
	q.low = min(q.low, due)
	q.lowMu.Unlock()
	q.poke()
}

// poke wakes the dispatcher without blocking.
func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
