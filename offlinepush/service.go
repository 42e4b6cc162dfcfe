package offlinepush

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Policies: when a user's devices are pushed.
const (
	// PushAllOffline pushes only while none of the user's devices is online.
	PushAllOffline = "all_offline"
	// PushAnyOffline pushes each offline device that has a token, even
	// while another device of the user is online.
	PushAnyOffline = "any_offline"
)

// Config configures a Service. KV and Facts are required.
type Config struct {
	KV    KV
	Facts Facts
	// Done is told which messages handed to Handle have been decided on
	// (their outcomes recorded and pushes queued, durably), so the store
	// can forget that they await the push layer. Optional.
	Done func(ctx context.Context, msgIDs ...uint64) error
	// Vendors are the push services, by their Name.
	Vendors []Vendor
	// PushWhen is PushAllOffline (default) or PushAnyOffline.
	PushWhen string
	// Grace is how long after a message its recipients' devices have to
	// receive it live (a device reconnecting) before they are pushed.
	// Default 2 s.
	Grace time.Duration
	// TTL is how long a push is tried, and what the vendor is told to
	// keep it for. Default 72 h.
	TTL time.Duration
	// Templates are the texts of pushes. Default DefaultTemplates().
	Templates Templates
	// VendorConcurrency is the most sends in flight per vendor. Default 16.
	VendorConcurrency int
	// MaxAttempts bounds the tries of one push. Default 12.
	MaxAttempts int
	// SendTimeout bounds one send to a vendor. Default 30 s.
	SendTimeout time.Duration
	// MinBackoff is the first retry's wait; each retry doubles it (with
	// jitter). Default 1 s.
	MinBackoff time.Duration
	// QuotaBackoff is the least wait after a quota error. Default 1 minute.
	QuotaBackoff time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives vendor failures. Default: discard.
	Logger *slog.Logger
	// OnOutcome, if set, is told each outcome of a message's push once it
	// is durably recorded: the decision per device, then every retry and
	// the final pushed or failed. It runs on the push layer's goroutines
	// and must not block.
	OnOutcome func(Outcome)
}

// Facts is what the push layer asks of the rest of the server.
type Facts interface {
	// Devices lists every device user has logged in from, and whether it
	// is connected now.
	Devices(user string) ([]DeviceInfo, error)
	// Cursor is the inbox position device last received (a device that
	// got the message live has it).
	Cursor(user, device string) (uint64, error)
	// Unread is user's number of unread messages: the badge.
	Unread(user string) (int, error)
	// ConvName is a group's name, "" for a direct conversation.
	ConvName(conv string) string
}

// DeviceInfo is one of a user's devices.
type DeviceInfo struct {
	ID     string
	Online bool
}

// Message is a committed message, as the push layer needs it.
type Message struct {
	ID         uint64
	Conv       string
	Seq        uint64
	From       string
	Kind       string // "" for a message; events and changes are not pushed
	Time       int64  // Unix ms
	Body       []byte
	Recipients []Recipient
}

// Recipient is a user a message was appended to, at inbox position Pts.
type Recipient struct {
	User string
	Pts  uint64
}

// Service is the push layer. It owns a decider goroutine, which waits out
// each message's grace period and decides per device, and the queue's
// scheduler, which sends due pushes through per-vendor worker slots. Close
// stops them. Every method is safe for concurrent use.
type Service struct {
	cfg     Config
	kv      KV
	reg     *registry
	vendors map[string]*vendorState
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	pending []pendingMsg         // guarded by mu: messages awaiting their grace period
	counts  map[[2]string]uint64 // guarded by mu: finished pushes by vendor and status
	wakeDec chan struct{}
	wakeQ   chan struct{}
	jobSeq  uint64 // guarded by mu
}

type pendingMsg struct {
	msg Message
	due time.Time
}

// New validates cfg and loads the token registry. Call Start to begin and
// Close to stop.
func New(cfg Config) (*Service, error) {
	if cfg.KV == nil || cfg.Facts == nil {
		return nil, errors.New("offlinepush: Config.KV and Config.Facts are required")
	}
	switch cfg.PushWhen {
	case "":
		cfg.PushWhen = PushAllOffline
	case PushAllOffline, PushAnyOffline:
	default:
		return nil, fmt.Errorf("offlinepush: push_when is %s or %s, not %q", PushAllOffline, PushAnyOffline, cfg.PushWhen)
	}
	if cfg.Grace < 0 || cfg.TTL < 0 || cfg.VendorConcurrency < 0 || cfg.MaxAttempts < 0 || cfg.SendTimeout < 0 {
		return nil, errors.New("offlinepush: negative Config value")
	}
	if cfg.Grace == 0 {
		cfg.Grace = 2 * time.Second
	}
	if cfg.TTL == 0 {
		cfg.TTL = 72 * time.Hour
	}
	if cfg.Templates == nil {
		cfg.Templates = DefaultTemplates()
	}
	if cfg.VendorConcurrency == 0 {
		cfg.VendorConcurrency = 16
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 12
	}
	if cfg.SendTimeout == 0 {
		cfg.SendTimeout = 30 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.QuotaBackoff <= 0 {
		cfg.QuotaBackoff = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	reg, err := loadRegistry(cfg.KV)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg:     cfg,
		kv:      cfg.KV,
		reg:     reg,
		vendors: make(map[string]*vendorState),
		log:     cfg.Logger,
		wakeDec: make(chan struct{}, 1),
		wakeQ:   make(chan struct{}, 1),
		jobSeq:  uint64(cfg.Now().UnixNano()),
	}
	for _, v := range cfg.Vendors {
		if _, dup := s.vendors[v.Name()]; dup {
			return nil, fmt.Errorf("offlinepush: vendor %q configured twice", v.Name())
		}
		s.vendors[v.Name()] = &vendorState{v: v, slots: make(chan struct{}, cfg.VendorConcurrency)}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Start starts the decider and the queue. Messages still awaiting the push
// layer from before a restart are handed to Handle first, by the caller.
func (s *Service) Start() {
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.decideLoop()
	}()
	go func() {
		defer s.wg.Done()
		s.queueLoop()
	}()
}

// Close stops the goroutines and waits for sends in flight, or ctx.
// Queued pushes stay queued for the next start.
func (s *Service) Close(ctx context.Context) error {
	s.cancel()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// HasTokens reports whether user has a push token. The store asks it for
// every committed message (history.Config.PushPending): it is a map lookup.
func (s *Service) HasTokens(user string) bool { return s.reg.hasTokens(user) }

// Handle takes committed messages. It never blocks: each is decided on
// once its grace period has passed. A message none of whose recipients
// (other than its sender) has a token is not kept.
func (s *Service) Handle(msgs []Message) {
	now := s.cfg.Now()
	s.mu.Lock()
	for _, m := range msgs {
		s.pending = append(s.pending, pendingMsg{msg: m, due: now.Add(s.cfg.Grace)})
	}
	s.mu.Unlock()
	wake(s.wakeDec)
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// decideLoop decides on each pending message once its grace has passed.
func (s *Service) decideLoop() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		var due []pendingMsg
		var next time.Duration = time.Hour
		now := s.cfg.Now()
		i := 0
		for ; i < len(s.pending); i++ {
			if d := s.pending[i].due.Sub(now); d > 0 {
				next = d
				break
			}
		}
		due = append(due, s.pending[:i]...)
		s.pending = append(s.pending[:0], s.pending[i:]...)
		s.mu.Unlock()
		// The due messages are decided together: one durable write for
		// all their outcomes and pushes, one for clearing their marks.
		for len(due) > 0 {
			n := min(len(due), maxDecideBatch)
			if err := s.decideBatch(due[:n]); err != nil && s.ctx.Err() == nil {
				s.log.Error("offlinepush: deciding on messages failed; they are decided again after a restart", "messages", n, "err", err)
			}
			due = due[n:]
		}
		if s.ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		more := len(s.pending) > 0 && !s.pending[0].due.After(s.cfg.Now())
		s.mu.Unlock()
		if more {
			continue
		}
		timer.Reset(next)
		select {
		case <-s.ctx.Done():
			return
		case <-s.wakeDec:
		case <-timer.C:
		}
	}
}

// Outcome is what happened to a message on one device of a recipient.
type Outcome struct {
	MsgID        uint64 `json:"msg_id"`
	Conv         string `json:"conv,omitempty"` // the message's conversation; empty for a push sent with SendCampaign
	User         string `json:"user"`
	Device       string `json:"device"`
	Status       string `json:"status"`           // see the Status constants
	Reason       string `json:"reason,omitempty"` // why not pushed, or why it failed
	Vendor       string `json:"vendor,omitempty"`
	Silent       bool   `json:"silent,omitempty"`
	TokenRemoved bool   `json:"token_removed,omitempty"`
	Opened       bool   `json:"opened,omitempty"`
	Attempts     int    `json:"attempts,omitempty"`
	At           int64  `json:"at"` // Unix ms of the last change
}

// Outcome statuses.
const (
	StatusDelivered = "delivered"  // the device received it live
	StatusNotPushed = "not_pushed" // see Reason
	StatusQueued    = "queued"     // a push is queued or being retried
	StatusPushed    = "pushed"     // the vendor accepted the push
	StatusFailed    = "failed"     // the push was given up: see Reason
)

// Reasons a device was not pushed.
const (
	ReasonOnline     = "online"      // connected, it gets the message live
	ReasonPolicy     = "policy"      // all_offline and another device of the user is online
	ReasonNoToken    = "no_token"    // the device registered no push token
	ReasonKicked     = GoneKicked    // kicked by a newer login: its token was removed
	ReasonLoggedOut  = GoneLoggedOut // logged out with unbind_push
	ReasonDND        = "dnd"         // do not disturb or quiet hours
	ReasonMuted      = "muted"       // the conversation is muted
	ReasonOwnMessage = "own_message" // the user sent it
	ReasonNotMessage = "event"       // a membership event, recall or edit
)

// decide records what to do on every device of every recipient of m and
// queues its pushes, in one durable write.
// maxDecideBatch bounds the messages decided in one write.
const maxDecideBatch = 256

func (s *Service) decideBatch(batch []pendingMsg) error {
	now := s.cfg.Now()
	var ops []Op
	var outcomes []Outcome // for OnOutcome
	ids := make([]uint64, 0, len(batch))
	badges := make(map[string]int) // a user's badge, read once per batch
	for _, p := range batch {
		m := p.msg
		ids = append(ids, m.ID)
		record := func(o Outcome) {
			o.MsgID, o.Conv, o.At = m.ID, m.Conv, now.UnixMilli()
			v, _ := json.Marshal(o)
			ops = append(ops, Op{Key: outcomeKey(m.ID, o.User, o.Device), Value: v})
			if s.cfg.OnOutcome != nil {
				outcomes = append(outcomes, o)
			}
		}
		for _, r := range m.Recipients {
			if r.User == m.From || !s.Wants(r.User) {
				continue // nothing to explain: no device of this user was ever pushable
			}
			if err := s.decideUser(m, r, now, badges, record, &ops); err != nil {
				return err
			}
		}
	}
	if len(ops) > 0 {
		if err := s.kv.Apply(s.ctx, ops...); err != nil {
			return err
		}
		wake(s.wakeQ)
		for _, o := range outcomes {
			s.cfg.OnOutcome(o)
		}
	}
	if s.cfg.Done != nil {
		return s.cfg.Done(s.ctx, ids...)
	}
	return nil
}

func (s *Service) decideUser(m Message, r Recipient, now time.Time, badges map[string]int, record func(Outcome), ops *[]Op) error {
	devs, err := s.cfg.Facts.Devices(r.User)
	if err != nil {
		return err
	}
	bindings := s.reg.bindings(r.User)
	byDevice := make(map[string]Binding, len(bindings))
	for _, b := range bindings {
		byDevice[b.Device] = b // the last bound wins when a device has several vendors
	}
	anyOnline := false
	known := make(map[string]bool, len(devs))
	for _, d := range devs {
		anyOnline = anyOnline || d.Online
		known[d.ID] = true
	}
	for _, b := range bindings {
		if !known[b.Device] {
			devs = append(devs, DeviceInfo{ID: b.Device})
			known[b.Device] = true
		}
	}
	st, err := s.Settings(r.User)
	if err != nil {
		return err
	}
	muted := s.muted(r.User, m.Conv, now) && !mentions(m.Body, r.User)
	quiet := st.quiet(now)
	badge, haveBadge := badges[r.User]
	for _, d := range devs {
		o := Outcome{User: r.User, Device: d.ID}
		if cur, err := s.cfg.Facts.Cursor(r.User, d.ID); err == nil && cur >= r.Pts {
			o.Status = StatusDelivered
			record(o)
			continue
		}
		b, hasToken := byDevice[d.ID]
		o.Status = StatusNotPushed
		switch {
		case d.Online:
			o.Reason = ReasonOnline
		case !hasToken:
			o.Reason = s.reg.goneReason(r.User, d.ID)
			if o.Reason == "" {
				o.Reason = ReasonNoToken
			}
		case s.cfg.PushWhen == PushAllOffline && anyOnline:
			o.Reason = ReasonPolicy
		case m.Kind != "":
			o.Reason = ReasonNotMessage
		case quiet && !st.Silent:
			o.Reason = ReasonDND
		case muted && !st.Silent:
			o.Reason = ReasonMuted
		}
		if o.Reason != "" {
			record(o)
			continue
		}
		if !haveBadge {
			badge, _ = s.cfg.Facts.Unread(r.User) // no badge beats no push
			badges[r.User], haveBadge = badge, true
		}
		silent := quiet || muted
		n := s.render(m, r.User, b, st, silent, badge)
		o.Status, o.Vendor, o.Silent = StatusQueued, b.Vendor, n.Silent
		if quiet {
			o.Reason = ReasonDND
		} else if muted {
			o.Reason = ReasonMuted
		}
		record(o)
		j := job{MsgID: m.ID, Conv: m.Conv, Binding: b, N: n, Deadline: now.Add(s.cfg.TTL).UnixMilli()}
		*ops = append(*ops, s.jobOp(now, &j))
	}
	return nil
}

// render builds the notification of m for user's device b.
func (s *Service) render(m Message, user string, b Binding, st Settings, silent bool, badge int) Notification {
	n := Notification{
		Token:       b.Token,
		Platform:    b.Platform,
		Credential:  b.Credential,
		CollapseKey: m.Conv,
		TTL:         s.cfg.TTL,
		Data: map[string]string{
			"type":   "message",
			"conv":   m.Conv,
			"seq":    strconv.FormatUint(m.Seq, 10),
			"msg_id": strconv.FormatUint(m.ID, 10),
			"from":   m.From,
		},
		Badge: &badge,
	}
	if silent || st.Display == DisplayHidden {
		n.Silent = true
		return n
	}
	n.High = true
	group := s.cfg.Facts.ConvName(m.Conv)
	kind := "direct"
	switch {
	case st.Display == DisplaySummary:
		kind = "summary"
	case group != "" && mentions(m.Body, user):
		kind = "mention"
	case group != "":
		kind = "group"
	}
	conv := group
	if conv == "" {
		conv = m.From
	}
	n.Title, n.Body = s.cfg.Templates.pick(kind, st.Locale).render(m.From, conv, preview(m.Body))
	return n
}

// Outcomes returns what happened to message msgID on each device of its
// recipients that could be pushed, in user and device order.
func (s *Service) Outcomes(msgID uint64) ([]Outcome, error) {
	var out []Outcome
	err := s.kv.Scan(outcomePrefix(msgID), func(_, v []byte) error {
		var o Outcome
		if err := json.Unmarshal(v, &o); err != nil {
			return err
		}
		out = append(out, o)
		return nil
	})
	return out, err
}

// Opened records that user opened the push of msgID on device.
func (s *Service) Opened(ctx context.Context, user, device string, msgID uint64) error {
	k := outcomeKey(msgID, user, device)
	v, found, err := s.kv.Get(k)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: no push of message %d to this device", ErrInvalid, msgID)
	}
	var o Outcome
	if err := json.Unmarshal(v, &o); err != nil {
		return err
	}
	o.Opened, o.At = true, s.cfg.Now().UnixMilli()
	v, _ = json.Marshal(o)
	return s.kv.Apply(ctx, Op{Key: k, Value: v})
}

// Register binds a device's push token (the last bind of a token wins).
func (s *Service) Register(ctx context.Context, b Binding) error {
	switch {
	case s.vendors[b.Vendor] == nil:
		return fmt.Errorf("%w: vendor %q is not configured", ErrInvalid, b.Vendor)
	case b.Token == "" || len(b.Token) > 4096:
		return fmt.Errorf("%w: a token is 1-4096 bytes", ErrInvalid)
	case len(b.Credential) > 64:
		return fmt.Errorf("%w: credential name too long", ErrInvalid)
	}
	return s.reg.register(ctx, b)
}

// Unbind removes every token of user's device; reason (GoneKicked,
// GoneLoggedOut, or "") is what its outcomes will say.
func (s *Service) Unbind(ctx context.Context, user, device, reason string) error {
	return s.reg.unbind(ctx, user, device, reason)
}

// Bindings returns user's tokens.
func (s *Service) Bindings(user string) []Binding { return s.reg.bindings(user) }

// Read tells the push layer that user read conv up to seq: its offline
// devices that were pushed for conv get a silent update with the new
// badge, so they stop showing what was read elsewhere.
func (s *Service) Read(ctx context.Context, user, conv string, seq uint64) error {
	p := prefix(recPushed, user, conv)
	var pushed []string
	err := s.kv.Scan(p, func(k, _ []byte) error {
		pushed = append(pushed, string(k[len(p):]))
		return nil
	})
	if err != nil || len(pushed) == 0 {
		return err
	}
	devs, err := s.cfg.Facts.Devices(user)
	if err != nil {
		return err
	}
	online := make(map[string]bool)
	for _, d := range devs {
		online[d.ID] = d.Online
	}
	badge, err := s.cfg.Facts.Unread(user)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	var ops []Op
	for _, b := range s.reg.bindings(user) {
		if online[b.Device] || !slices.Contains(pushed, b.Device) {
			continue
		}
		n := Notification{Token: b.Token, Platform: b.Platform, Credential: b.Credential, Silent: true, Badge: &badge,
			CollapseKey: conv, TTL: s.cfg.TTL,
			Data: map[string]string{"type": "read", "conv": conv, "seq": strconv.FormatUint(seq, 10)}}
		j := job{Conv: conv, Binding: b, N: n, Deadline: now.Add(s.cfg.TTL).UnixMilli()}
		ops = append(ops, s.jobOp(now, &j), Op{Key: key(recPushed, user, conv, b.Device), Delete: true})
	}
	if len(ops) == 0 {
		return nil
	}
	if err := s.kv.Apply(ctx, ops...); err != nil {
		return err
	}
	wake(s.wakeQ)
	return nil
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// Wants reports whether the push layer has anything to do or explain for
// a message to user: a token, or a device that lost its token.
func (s *Service) Wants(user string) bool {
	return s.reg.hasTokens(user) || s.reg.goneCount(user) > 0
}

func (s *Service) count(vendor, status string) {
	s.mu.Lock()
	if s.counts == nil {
		s.counts = make(map[[2]string]uint64)
	}
	s.counts[[2]string{vendor, status}]++
	s.mu.Unlock()
}

// PushCount is how many pushes of a vendor ended with a status since start.
type PushCount struct {
	Vendor, Status string
	N              uint64
}

// Counts returns the finished pushes by vendor and status (pushed or
// failed) since start, and how many messages await their decision.
func (s *Service) Counts() (counts []PushCount, waiting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, n := range s.counts {
		counts = append(counts, PushCount{Vendor: k[0], Status: k[1], N: n})
	}
	return counts, len(s.pending)
}
