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
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
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
	// timeout. Redirects are never followed (a copy of the client is used).
	HTTPClient *http.Client
	// Now is the clock for due times, event times and signatures.
	// Default time.Now.
	Now func() time.Time
	// MinBackoff is the wait before the first retry; it doubles with each
	// attempt, with jitter, up to an hour. Default 1 s.
	MinBackoff time.Duration
	// MaxAttempts is how many times a delivery is tried before it is
	// dropped. Default 15.
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
	// ID identifies the event to receivers, which dedupe retries by it.
	// Default: assigned by Emit, unique and sortable by emit time. A
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

// Stats counts deliveries (one per event and endpoint) since New.
type Stats struct {
	Queued    uint64 // queued by Emit
	Delivered uint64 // answered 2xx
	Retried   uint64 // attempts that failed and were rescheduled
	Failed    uint64 // dropped: refused, too many attempts or too old
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
	}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	q.sendCtx, q.cancelSend = context.WithCancel(context.Background())
	return q, nil
}

// job is one queued delivery: an event's body to one endpoint.
type job struct {
	EventID  string          `json:"event_id"`
	URL      string          `json:"url"`
	Body     json.RawMessage `json:"body"`
	Attempts int             `json:"attempts,omitempty"`
	Deadline int64           `json:"deadline"` // Unix ms: give up after
	Due      int64           `json:"due"`      // Unix ms
}

// recJob is the record kind of queued jobs (doc.go).
const recJob = 'j'

// jobKey is 'j' be64(due ms) event-id 0x00 URL.
func jobKey(due int64, eventID, url string) []byte {
	k := make([]byte, 0, 1+8+len(eventID)+1+len(url))
	k = append(k, recJob)
	k = binary.BigEndian.AppendUint64(k, uint64(due))
	k = append(k, eventID...)
	k = append(k, 0)
	return append(k, url...)
}

func (j *job) key() []byte { return jobKey(j.Due, j.EventID, j.URL) }

// body is the JSON POSTed for an event.
type body struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Time string          `json:"time"`
	Data json.RawMessage `json:"data"`
}

// timeFormat is RFC 3339 with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// Emit queues one delivery of ev to each endpoint that wants its type, in
// one Apply, and returns once they are durable; it never waits for the
// network. It assigns ev.ID and ev.Time when they are empty. An event no
// endpoint wants is not written. Emitting an ID that is still queued for
// the same endpoint at the same due time replaces that delivery.
func (q *Queue) Emit(ctx context.Context, ev Event) error {
	return q.EmitAll(ctx, ev)
}

// EmitAll is Emit for several events in one Apply: all are queued or none
// is. An invalid event fails the call before anything is written.
func (q *Queue) EmitAll(ctx context.Context, evs ...Event) error {
	var ops []offlinepush.Op
	now := q.now()
	for _, ev := range evs {
		switch {
		case ev.Type == "" || len(ev.Type) > maxTypeLen:
			return fmt.Errorf("%w: Type must be 1 to %d bytes", ErrEvent, maxTypeLen)
		case len(ev.ID) > maxIDLen || bytes.IndexByte([]byte(ev.ID), 0) >= 0:
			return fmt.Errorf("%w: ID must be at most %d bytes without 0x00", ErrEvent, maxIDLen)
		case len(ev.Data) > 0 && !json.Valid(ev.Data):
			return fmt.Errorf("%w: Data of %s is not valid JSON", ErrEvent, ev.Type)
		}
		if !q.Wants(ev.Type) {
			continue
		}
		if ev.ID == "" {
			ev.ID = q.newID(now)
		}
		if ev.Time.IsZero() {
			ev.Time = now
		}
		b, err := json.Marshal(body{ID: ev.ID, Type: ev.Type, Time: ev.Time.UTC().Format(timeFormat), Data: ev.Data})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrEvent, err)
		}
		for i := range q.endpoints {
			e := &q.endpoints[i]
			if !e.wants(ev.Type) {
				continue
			}
			j := job{EventID: ev.ID, URL: e.URL, Body: b, Deadline: now.Add(q.maxAge).UnixMilli(), Due: now.UnixMilli()}
			v, _ := json.Marshal(j)
			ops = append(ops, offlinepush.Op{Key: j.key(), Value: v})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if err := q.kv.Apply(ctx, ops...); err != nil {
		return fmt.Errorf("events: queueing %d events: %w", len(evs), err)
	}
	q.queued.Add(uint64(len(ops)))
	q.poke()
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

// poke wakes the dispatcher without blocking.
func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
