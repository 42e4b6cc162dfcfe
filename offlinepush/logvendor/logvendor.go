package logvendor

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/loftchat/loft/offlinepush"
)

// Name is the vendor name Vendor reports and puts in its errors.
const Name = "log"

// DefaultMax is how many records a Vendor keeps by default.
const DefaultMax = 1000

// Config configures a Vendor.
type Config struct {
	// Max is how many records are kept; the oldest are dropped first.
	// Default DefaultMax (1000).
	Max int
	// Now stamps the records. Default time.Now.
	Now func() time.Time
	// Fail makes Send fail for these tokens with the given kind, as a real
	// vendor would, so that token removal and retries can be tested
	// without a network. Failed sends are not recorded. Default none; New
	// copies the map, and SetFail changes it later.
	Fail map[string]offlinepush.ErrorKind
	// OnSend, if set, is called with each record after it is stored,
	// outside the Vendor's lock (so it may call Recent or All), on the
	// sender's goroutine: it must not block, so hand the record to a
	// buffered channel or drop it.
	OnSend func(Record)
}

// Record is one push as the Vendor recorded it.
type Record struct {
	Seq  uint64 // 1 for the first push recorded, then 2, 3, ...: a cursor for pollers
	Time time.Time

	Token       string
	Platform    string
	Credential  string
	Title       string
	Body        string
	Data        map[string]string
	Badge       *int
	CollapseKey string
	Silent      bool
	Sound       string
	TTL         time.Duration
	High        bool
}

// clone returns r with its own Data and Badge, so that neither the caller
// nor the Vendor sees the other's changes.
func (r Record) clone() Record {
	r.Data = maps.Clone(r.Data)
	if r.Badge != nil {
		b := *r.Badge
		r.Badge = &b
	}
	return r
}

// Vendor records pushes in memory instead of sending them. It is safe for
// concurrent use.
type Vendor struct {
	max    int
	now    func() time.Time
	onSend func(Record)

	mu   sync.Mutex
	ring []Record                         // guarded by mu; at most max, the oldest at next once full
	next int                              // guarded by mu
	seq  uint64                           // guarded by mu
	fail map[string]offlinepush.ErrorKind // guarded by mu
}

var _ offlinepush.Vendor = (*Vendor)(nil)

// New returns a Vendor. It cannot fail: every field has a default.
func New(cfg Config) *Vendor {
	if cfg.Max <= 0 {
		cfg.Max = DefaultMax
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	fail := maps.Clone(cfg.Fail)
	if fail == nil {
		fail = make(map[string]offlinepush.ErrorKind)
	}
	return &Vendor{max: cfg.Max, now: cfg.Now, onSend: cfg.OnSend, fail: fail}
}

// Name returns "log".
func (v *Vendor) Name() string { return Name }

// SetFail makes Send fail for token with kind from now on; kind 0 makes it
// succeed again.
func (v *Vendor) SetFail(token string, kind offlinepush.ErrorKind) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if kind == 0 {
		delete(v.fail, token)
		return
	}
	v.fail[token] = kind
}

// Send records n, or fails as Config.Fail or SetFail says for its token.
func (v *Vendor) Send(ctx context.Context, n *offlinepush.Notification) error {
	if err := ctx.Err(); err != nil {
		return &offlinepush.Error{Vendor: Name, Kind: offlinepush.KindRetry, Err: err}
	}
	r := Record{
		Time:        v.now(),
		Token:       n.Token,
		Platform:    n.Platform,
		Credential:  n.Credential,
		Title:       n.Title,
		Body:        n.Body,
		Data:        n.Data,
		Badge:       n.Badge,
		CollapseKey: n.CollapseKey,
		Silent:      n.Silent,
		Sound:       n.Sound,
		TTL:         n.TTL,
		High:        n.High,
	}.clone()

	v.mu.Lock()
	if kind, ok := v.fail[n.Token]; ok {
		v.mu.Unlock()
		return &offlinepush.Error{Vendor: Name, Kind: kind, Code: kind.String()}
	}
	v.seq++
	r.Seq = v.seq
	if len(v.ring) < v.max {
		v.ring = append(v.ring, r)
	} else {
		v.ring[v.next] = r
		v.next = (v.next + 1) % v.max
	}
	v.mu.Unlock()

	if v.onSend != nil {
		v.onSend(r.clone())
	}
	return nil
}

// All returns copies of the kept records, oldest first.
func (v *Vendor) All() []Record {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]Record, 0, len(v.ring))
	for _, r := range v.ring[v.next:] {
		out = append(out, r.clone())
	}
	for _, r := range v.ring[:v.next] {
		out = append(out, r.clone())
	}
	return out
}

// Recent returns copies of the last n kept records for token (all of them
// if n <= 0), oldest first.
func (v *Vendor) Recent(token string, n int) []Record {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []Record
	for i := len(v.ring) - 1; i >= 0 && (n <= 0 || len(out) < n); i-- {
		r := v.ring[(v.next+i)%len(v.ring)] // the i-th oldest
		if r.Token == token {
			out = append(out, r.clone())
		}
	}
	slices.Reverse(out)
	return out
}
