package chat

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/presence"
)

// Config configures a Server. Store and Auth are required; every other zero
// field takes the default its comment gives.
type Config struct {
	// Store keeps messages, cursors and read marks. Required.
	Store Store
	// Auth verifies the tokens clients present. Required.
	Auth Authenticator
	// Router carries events between sessions. Default: a LocalRouter.
	Router Router
	// Presence records online devices. Default: a new presence.Tracker
	// wired to the server. One given here must call PresenceChanged from
	// its presence.Config.OnChange for presence subscriptions to work.
	Presence Presence
	// DeviceLimits is the most concurrent sessions per device class of one
	// user; a login over it kicks the oldest. Default
	// presence.DefaultLimits(): 1 mobile, 1 desktop, 5 web, others
	// unlimited.
	DeviceLimits presence.Limits
	// MaxWatched is the most users one session may watch the presence of.
	// Default 1000.
	MaxWatched int
	// TypingRate is the sustained typing frames per second one session may
	// send; bursts of twice that pass. Default 2.
	TypingRate float64
	// TypingFanout is the largest group typing indicators are relayed in.
	// Default 500, the store's default write fan-out limit.
	TypingFanout int
	// Push is the offline-push layer: committed messages are handed to it,
	// and the push frames use it. Optional.
	Push Pusher
	// OnAck, if set, is told how long each send took from its frame being
	// read to its ack being queued (for metrics); it must not block.
	OnAck func(time.Duration)
	// Logger receives the server's logs. Default: discard.
	Logger *slog.Logger
	// OriginPatterns are the browser origins (host patterns, as in
	// path.Match) allowed to open a WebSocket besides the server's own
	// host. Clients that send no Origin (native apps) are always allowed.
	OriginPatterns []string
	// MaxBody is the largest message body in bytes. Default 16 KiB. Frames
	// over MaxBody + 4 KiB close the connection with 1009.
	MaxBody int
	// AuthTimeout is how long a new connection has to authenticate.
	// Default 10 s.
	AuthTimeout time.Duration
	// PingInterval is the time between server pings. Default 30 s.
	PingInterval time.Duration
	// PongTimeout is how long a device has to answer a ping before it is
	// dropped. Default 30 s.
	PongTimeout time.Duration
	// WriteTimeout bounds one frame write to a client. Default 10 s.
	WriteTimeout time.Duration
	// SendQueue is how many frames may wait for a slow client before it is
	// closed with CloseSlow. Default 1024; it must exceed MaxInFlight.
	SendQueue int
	// MaxInFlight is how many of one session's sends may await their
	// commit; the session stops reading beyond it. Default 256.
	MaxInFlight int
	// RateLimit is the sustained frames per second one connection may send;
	// bursts of twice that pass. Default 1000.
	RateLimit float64
	// SyncPage is the number of inbox entries per sync page. Default 200.
	SyncPage int
	// TokenLeeway is added to a token's expiry before its session is
	// closed. Default 30 s (the JWTVerifier's default leeway).
	TokenLeeway time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() error {
	if c.Store == nil || c.Auth == nil {
		return errors.New("chat: Config.Store and Config.Auth are required")
	}
	if c.Router == nil {
		c.Router = NewLocalRouter()
	}
	if c.DeviceLimits == nil {
		c.DeviceLimits = presence.DefaultLimits()
	}
	setDefault(&c.MaxWatched, 1000)
	setDefault(&c.TypingRate, 2)
	setDefault(&c.TypingFanout, 500)
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	setDefault(&c.MaxBody, 16<<10)
	setDefault(&c.AuthTimeout, 10*time.Second)
	setDefault(&c.PingInterval, 30*time.Second)
	setDefault(&c.PongTimeout, 30*time.Second)
	setDefault(&c.WriteTimeout, 10*time.Second)
	setDefault(&c.SendQueue, 1024)
	setDefault(&c.MaxInFlight, 256)
	setDefault(&c.RateLimit, 1000)
	setDefault(&c.SyncPage, 200)
	setDefault(&c.TokenLeeway, 30*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxBody < 0 || c.SendQueue < 0 || c.MaxInFlight < 0 || c.RateLimit < 0 || c.SyncPage < 0 || c.MaxWatched < 0 || c.TypingRate < 0 || c.TypingFanout < 0 {
		return errors.New("chat: limits must not be negative")
	}
	if c.SendQueue <= c.MaxInFlight {
		// Every in-flight send is answered through the queue.
		return errors.New("chat: SendQueue must be larger than MaxInFlight")
	}
	return nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Log attribute keys.
const (
	logUser   = "user"
	logDevice = "device"
	logErr    = "err"
)

// Server accepts WebSocket clients and routes their messages. Mount it at
// /v1/ws.
type Server struct {
	cfg    Config
	log    *slog.Logger
	accept websocket.AcceptOptions

	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	commits chan []history.Appended
	sessWG  sync.WaitGroup // every session; Add only under mu while !closed
	dispWG  sync.WaitGroup // the dispatcher and the auth workers
	// auths feeds the auth workers: token checks and the store reads of a
	// login need deep stacks, which a few long-lived workers keep grown,
	// instead of every connection's reader growing (and copying) its own.
	auths chan func()

	// deliveries counts inbox entries handed to devices' queues.
	deliveries atomic.Uint64

	// watchers maps users to the sessions subscribed to their presence.
	watchers *presence.Watchers[*session]

	mu       sync.Mutex
	sessions map[*session]struct{} // guarded by mu
	closed   bool                  // guarded by mu
}

// New validates cfg and starts the server's dispatcher. Call Close to stop it.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		accept:   websocket.AcceptOptions{OriginPatterns: cfg.OriginPatterns},
		ctx:      ctx,
		cancel:   cancel,
		commits:  make(chan []history.Appended, 1024),
		sessions: make(map[*session]struct{}),
		watchers: presence.NewWatchers[*session](cfg.MaxWatched),
	}
	if s.cfg.Presence == nil {
		s.cfg.Presence = presence.NewTracker(presence.Config{OnChange: s.PresenceChanged, Now: cfg.Now})
	}
	s.auths = make(chan func())
	for range runtime.GOMAXPROCS(0) + 1 {
		s.dispWG.Add(1)
		go s.authWorker()
	}
	s.dispWG.Add(1)
	go s.dispatch()
	return s, nil
}

// Committed is the store's commit hook (history.Config.OnCommit): it hands a
// durable batch to the dispatcher, in commit order. It blocks only while the
// dispatcher is a full queue behind, which slows commits rather than
// dropping deliveries.
func (s *Server) Committed(batch []history.Appended) {
	select {
	case s.commits <- batch:
	case <-s.ctx.Done():
	}
}

// dispatch encodes each committed message once and publishes it to the
// inbox of every user it appended to.
func (s *Server) dispatch() {
	defer s.dispWG.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case batch := <-s.commits:
			if s.cfg.Push != nil {
				if msgs := PushMessages(s.cfg.Push, batch); len(msgs) > 0 {
					s.cfg.Push.Handle(msgs)
				}
			}
			for _, a := range batch {
				if a.ReadFanout {
					s.publishGroupSeq(a)
					continue
				}
				em := encodeMessage(a.Message)
				s.deliveries.Add(uint64(len(a.Inbox)))
				for _, ref := range a.Inbox {
					s.cfg.Router.Publish(ref.User, Event{Pts: ref.Pts, Msg: em})
				}
			}
		}
	}
}

func (s *Server) authWorker() {
	defer s.dispWG.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case f := <-s.auths:
			f()
		}
	}
}

// onAuthWorker runs f on an auth worker and returns when it is done. It
// runs f on the caller's goroutine once the server is closing.
func (s *Server) onAuthWorker(f func()) {
	done := make(chan struct{})
	job := func() { f(); close(done) }
	select {
	case s.auths <- job:
		<-done
	case <-s.ctx.Done():
		f()
	}
}

// ServeHTTP upgrades the request to a WebSocket and runs a session on it
// until the connection ends.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cw := &corkingWriter{ResponseWriter: w, timeout: s.cfg.WriteTimeout}
	conn, err := websocket.Accept(cw, r, &s.accept)
	if err != nil {
		// Accept has answered the request already (403 for a foreign
		// Origin, 426 for a plain HTTP request).
		s.log.Debug("websocket accept", logErr, err)
		return
	}
	conn.SetReadLimit(int64(s.cfg.MaxBody) + 4096)
	sess := newSession(s, conn, cw.conn)
	if !s.track(sess) {
		conn.Close(CloseGoingAway, "server shutting down")
		return
	}
	// The session runs on a fresh goroutine and the handler returns: after
	// the hijack, net/http is done with the connection, and its goroutine's
	// stack (grown by request parsing and the upgrade) is freed instead of
	// idling under every connection.
	go func() {
		defer s.untrack(sess)
		sess.run()
	}()
}

// Stats are the server's counters, for metrics.
type Stats struct {
	Connections int    // open WebSocket sessions
	Deliveries  uint64 // inbox entries published to users' devices since start
}

// Stats returns the server's counters now.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.sessions)
	s.mu.Unlock()
	return Stats{Connections: n, Deliveries: s.deliveries.Load()}
}

func (s *Server) track(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.sessions[sess] = struct{}{}
	s.sessWG.Add(1)
	return true
}

func (s *Server) untrack(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.sessWG.Done()
}

// Close stops accepting connections, lets each session's in-flight sends
// commit and their acks go out, closes every socket with 1001 and waits for
// every goroutine, or for ctx. The Store is the caller's to close afterwards.
// Close is safe to call twice.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		go sess.shutdown()
	}
	done := make(chan struct{})
	go func() {
		// Sessions first: their acks come from commits the dispatcher
		// does not need, but their receipts do go through the router.
		s.sessWG.Wait()
		s.cancel()
		s.dispWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for sess := range s.sessions {
			sess.conn.CloseNow()
		}
		s.mu.Unlock()
		s.cancel()
		<-done
		return ctx.Err()
	}
}
