package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/presence"
)

// session is one client connection. The reader (run, in the HTTP handler's
// goroutine) decodes frames and answers them through the queue; the writer
// goroutine owns everything written to the socket and the device's position
// in its inbox.
type session struct {
	srv  *Server
	conn *websocket.Conn
	cork *corkConn // the socket under conn: the writer corks it per pass
	log  *slog.Logger
	q    outQueue
	w    writer         // the writer's state; see writeLoop
	wg   sync.WaitGroup // writer goroutines; Add only under q.mu

	// Set once at the first successful auth, before Attach; read-only after.
	user, device, platform string
	presenceGen            uint64

	// Owned by the reader goroutine.
	authed       bool
	bucket       tokenBucket
	typingBucket tokenBucket
	confirmed    uint64 // the cursor this device last confirmed

	// wantEntries is set once the client asked to sync: inbox entries
	// before that are not queued, since the sync reads them from the store.
	wantEntries atomic.Bool

	inflight chan struct{} // one slot per send awaiting its commit
	stopRead chan struct{} // closed by shutdown: take no new sends

	mu          sync.Mutex
	expires     time.Time   // guarded by mu: token expiry plus leeway
	authTimer   *time.Timer // guarded by mu
	pingTimer   *time.Timer // guarded by mu
	expiryTimer *time.Timer // guarded by mu
	finished    bool        // guarded by mu: run has returned; arm no timer
	authDone    bool        // guarded by mu: the auth timeout no longer applies
	shutOnce    sync.Once
}

func newSession(srv *Server, conn *websocket.Conn, cork *corkConn) *session {
	s := &session{
		srv:      srv,
		conn:     conn,
		cork:     cork,
		log:      srv.log,
		inflight: make(chan struct{}, srv.cfg.MaxInFlight),
		stopRead: make(chan struct{}),
		bucket:   tokenBucket{rate: srv.cfg.RateLimit, burst: 2 * srv.cfg.RateLimit},

		typingBucket: tokenBucket{rate: srv.cfg.TypingRate, burst: 2 * srv.cfg.TypingRate},
	}
	s.w.s = s
	s.q.init(srv.cfg.SendQueue, func() {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.writeLoop()
		}()
	})
	return s
}

// User implements Subscriber.
func (s *session) User() string { return s.user }

// Device implements Subscriber.
func (s *session) Device() string { return s.device }

// Deliver implements Subscriber.
func (s *session) Deliver(ev Event) {
	if ev.SkipDevice != "" && ev.SkipDevice == s.device {
		return
	}
	if ev.Kick != nil {
		if ev.Kick.Device == s.device {
			s.kick(ev.Kick)
		}
		return
	}
	if ev.Msg != nil && !s.wantEntries.Load() {
		return
	}
	s.q.push(outItem{frame: ev.Frame, pts: ev.Pts, msg: ev.Msg})
}

// Replace implements Subscriber.
func (s *session) Replace() {
	s.q.close(CloseReplaced, "the device connected again", true)
}

// setTimer arms *slot to run f after d, replacing what it held.
func (s *session) setTimer(slot **time.Timer, d time.Duration, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *slot != nil {
		(*slot).Stop()
	}
	if !s.finished {
		*slot = time.AfterFunc(d, f)
	}
}

// run serves the connection until it ends.
func (s *session) run() {
	s.setTimer(&s.authTimer, s.srv.cfg.AuthTimeout, func() {
		s.q.closeIf(func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return !s.authDone
		}, CloseAuthTimeout, "authenticate within the auth timeout")
	})
	s.readLoop()

	// The close starts a writer if none runs; after it none starts again.
	s.q.close(websocket.StatusNormalClosure, "", false)
	s.wg.Wait()
	s.mu.Lock()
	s.finished = true
	for _, t := range []*time.Timer{s.authTimer, s.pingTimer, s.expiryTimer} {
		if t != nil {
			t.Stop()
		}
	}
	s.mu.Unlock()
	if s.user != "" {
		s.srv.cfg.Router.Detach(s)
		s.srv.watchers.UnwatchAll(s)
		if s.srv.cfg.Presence.Disconnect(s.user, s.device, s.presenceGen) {
			s.deviceSeen(false)
		}
	}
}

// shutdown closes the session for a server shutdown: no new sends, the
// in-flight ones commit and are acked, then the socket closes with 1001.
func (s *session) shutdown() {
	s.shutOnce.Do(func() {
		close(s.stopRead)
		for i := 0; i < cap(s.inflight); i++ {
			s.inflight <- struct{}{}
		}
		s.q.close(CloseGoingAway, "server shutting down", true)
	})
}

func (s *session) readLoop() {
	// The read context is never cancelled: cancelling it would close the
	// socket without a close frame. The socket's close ends the loop.
	ctx := context.Background()
	for {
		s.q.waitRoom()
		typ, data, err := s.conn.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == -1 && !errors.Is(err, context.Canceled) {
				s.log.Debug("read", logUser, s.user, logDevice, s.device, logErr, err)
			}
			return
		}
		if typ != websocket.MessageText {
			s.reply(encodeError("", CodeBadFrame, "frames must be JSON text frames"))
			continue
		}
		s.handle(data)
	}
}

func (s *session) reply(frame []byte) { s.q.push(outItem{frame: frame}) }

func (s *session) replyErr(id string, err error) {
	var fe *frameError
	if errors.As(err, &fe) {
		s.reply(encodeError(id, fe.code, fe.msg))
		return
	}
	code, msg := errorCode(err)
	if code == CodeInternal {
		s.log.Error("request failed", logUser, s.user, logDevice, s.device, logErr, err)
	}
	s.reply(encodeError(id, code, msg))
}

// errorCode maps a store error to its wire code and message. Internal
// details never reach the client.
func errorCode(err error) (Code, string) {
	var reset *history.ResetError
	switch {
	case errors.Is(err, history.ErrNotFound):
		return CodeNotFound, "no such conversation or message"
	case errors.Is(err, history.ErrForbidden):
		return CodeForbidden, "not allowed: not a member, not the sender, or not an owner or admin"
	case errors.Is(err, history.ErrTooLate):
		return CodeTooLate, "the window for this change has passed"
	case errors.Is(err, history.ErrTooMany):
		return CodeTooMany, unwrapMessage(err)
	case errors.Is(err, history.ErrConflict):
		return CodeConflict, "this client message id was used for a different message"
	case errors.Is(err, history.ErrInvalid):
		return CodeBadFrame, unwrapMessage(err)
	case errors.Is(err, history.ErrClosed):
		return CodeUnavailable, "the server is shutting down; reconnect and retry"
	case errors.Is(err, history.ErrFailed):
		// The store logged the cause once; a send that failed was not acked.
		return CodeUnavailable, "the server cannot write to its storage; retry later with the same cid"
	case errors.As(err, &reset):
		return CodeBadFrame, reset.Error()
	default:
		return CodeInternal, "internal error; retry later"
	}
}

// unwrapMessage words a store's validation error for the client: its text
// without the package prefix. Those texts name values, never internals.
func unwrapMessage(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "history: "); i >= 0 {
		msg = msg[i+len("history: "):]
	}
	return msg
}

func (s *session) handle(data []byte) {
	f, err := decodeFrame(data)
	if err != nil {
		s.replyErr("", err)
		return
	}
	if !s.bucket.allow(s.srv.cfg.Now()) {
		s.reply(encodeError(f.ID, CodeRateLimited, "too many frames; slow down and retry"))
		return
	}
	if f.Type == FrameAuth {
		// Verifying a token and reading the cursor take deep stacks; on an
		// auth worker they do not stay with the connection's reader,
		// which then idles on a small stack.
		var err error
		s.srv.onAuthWorker(func() { err = s.handleAuth(f) })
		s.replyErrIf(f.ID, err)
		return
	}
	if !s.authed {
		if !knownType(f.Type) {
			s.reply(encodeError(f.ID, CodeUnknownType, "unknown frame type "+quoteShort(f.Type)))
			return
		}
		s.reply(encodeError(f.ID, CodeUnauthorized, "authenticate first"))
		return
	}
	var herr error
	switch f.Type {
	case FrameSend:
		herr = s.handleSend(f)
	case FrameSync:
		herr = s.handleSync(f)
	case FrameReceived:
		herr = s.handleReceived(f)
	case FrameHistory:
		herr = s.handleHistory(f)
	case FrameConversations:
		herr = s.handleConversations(f)
	case FrameRead:
		herr = s.handleRead(f)
	case FramePing:
		s.reply(append(appendHead(nil, "pong", f.ID), '}'))
	case FrameGroupCreate, FrameGroupAdd, FrameGroupRemove, FrameGroupLeave, FrameGroupRename, FrameGroupRole:
		herr = s.handleGroupChange(f)
	case FrameGroupMembers:
		herr = s.handleGroupMembers(f)
	case FrameGroups:
		herr = s.handleGroups(f)
	case FrameReceipts:
		herr = s.handleReceipts(f)
	case FrameRecall, FrameEdit, FrameDelete:
		herr = s.handleChange(f)
	case FramePresenceSub:
		herr = s.handlePresenceSub(f)
	case FramePresenceUnsub:
		herr = s.handlePresenceUnsub(f)
	case FrameTyping:
		herr = s.handleTyping(f)
	case FrameDevices:
		herr = s.handleDevices(f)
	case FrameLogout:
		herr = s.handleLogout(f)
	case FrameLogoutDevice:
		herr = s.handleLogoutDevice(f)
	case FramePushRegister:
		herr = s.handlePushRegister(f)
	case FramePushUnregister:
		herr = s.handlePushUnregister(f)
	case FramePushSettings:
		herr = s.handlePushSettings(f)
	case FrameMute:
		herr = s.handleMute(f)
	case FramePushOpened:
		herr = s.handlePushOpened(f)
	default:
		s.reply(encodeError(f.ID, CodeUnknownType, "unknown frame type "+quoteShort(f.Type)))
	}
	s.replyErrIf(f.ID, herr)
}

func (s *session) replyErrIf(id string, err error) {
	if err != nil {
		s.replyErr(id, err)
	}
}

func knownType(t string) bool {
	switch t {
	case FrameAuth, FrameSend, FrameSync, FrameReceived, FrameHistory, FrameConversations, FrameRead, FramePing,
		FrameGroupCreate, FrameGroupAdd, FrameGroupRemove, FrameGroupLeave, FrameGroupRename, FrameGroupRole,
		FrameGroupMembers, FrameGroups, FrameReceipts, FrameRecall, FrameEdit, FrameDelete,
		FramePresenceSub, FramePresenceUnsub, FrameTyping, FrameDevices, FrameLogout, FrameLogoutDevice,
		FramePushRegister, FramePushUnregister, FramePushSettings, FrameMute, FramePushOpened:
		return true
	}
	return false
}

func quoteShort(s string) string {
	if len(s) > 32 {
		s = s[:32] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// bindClaim fills an auth frame's field from the token's claim of it, or
// refuses a field the claim does not allow. No claim binds nothing.
func bindClaim(field *string, claim, what string) error {
	switch {
	case claim == "":
	case *field == "":
		*field = claim
	case *field != claim:
		return &frameError{CodeForbidden, "this token is for " + what + " " + quoteShort(claim)}
	}
	return nil
}

func (s *session) handleAuth(f *inFrame) error {
	if f.Token == "" {
		return &frameError{CodeUnauthorized, `missing "token"`}
	}
	claims, err := s.srv.cfg.Auth.Verify(f.Token)
	if err != nil {
		// The reason may help an operator; the token itself is never logged.
		s.log.Info("auth failed", logErr, err)
		return &frameError{CodeUnauthorized, "invalid or expired token"}
	}
	now := s.srv.cfg.Now()
	// A token that names a device or platform is for that one only; a
	// frame without them takes the token's (a renewal's then meets the
	// check that a session keeps its device).
	if err := bindClaim(&f.Device, claims.Device, "device"); err != nil {
		return err
	}
	if err := bindClaim(&f.Platform, claims.Platform, "platform"); err != nil {
		return err
	}
	if s.authed {
		// Re-authentication extends the session; it cannot change who it is.
		if claims.User != s.user || (f.Device != "" && f.Device != s.device) {
			return &frameError{CodeForbidden, "a session cannot change its user or device"}
		}
		s.setExpiry(claims.Expires, now)
		s.reply(s.authedFrame(f.ID, claims))
		return nil
	}
	if !ValidID(f.Device) {
		return badFrame(`"device" must be 1-64 letters, digits or . _ - @`)
	}
	platform := f.Platform
	if platform == "" {
		platform = "unknown"
	}
	if !ValidID(platform) {
		return badFrame(`"platform" must be 1-64 letters, digits or . _ - @`)
	}
	s.user, s.device, s.platform = claims.User, f.Device, platform
	s.log = s.srv.log.With(logUser, s.user, logDevice, s.device)
	s.authed = true
	s.mu.Lock()
	s.authDone = true
	s.authTimer.Stop()
	s.mu.Unlock()
	s.setExpiry(claims.Expires, now)
	// Attach before the client can sync, so that every commit after its
	// sync snapshot reaches this session live.
	s.srv.cfg.Router.Attach(s)
	s.presenceGen = s.srv.cfg.Presence.Connect(s.user, presence.Device{ID: s.device, Platform: platform, Since: now})
	s.deviceSeen(true)
	s.enforceDeviceLimit()
	s.setTimer(&s.pingTimer, s.srv.cfg.PingInterval, s.ping)
	s.reply(s.authedFrame(f.ID, claims))
	return nil
}

// deviceSeen records the device's login or its last seen time. It is not
// waited for: losing one to a crash costs a last-seen time, nothing else.
func (s *session) deviceSeen(online bool) {
	if err := s.srv.cfg.Store.DeviceSeen(context.Background(), s.user, s.device, s.platform, online); err != nil && !errors.Is(err, history.ErrClosed) {
		s.log.Error("record device", logErr, err)
	}
}

func (s *session) authedFrame(id string, c Claims) []byte {
	cursor, err := s.srv.cfg.Store.Cursor(s.user, s.device)
	if err != nil {
		s.log.Error("read cursor", logErr, err)
	}
	s.confirmed = max(s.confirmed, cursor)
	head, err := s.srv.cfg.Store.InboxHead(s.user)
	if err != nil {
		s.log.Error("read inbox head", logErr, err)
	}
	return encodeJSON("authed", id, struct {
		User    string `json:"user"`
		Device  string `json:"device"`
		Cursor  uint64 `json:"cursor"`
		Head    uint64 `json:"head"`
		Expires int64  `json:"expires"`
	}{s.user, s.device, cursor, head, c.Expires.Unix()})
}

// setExpiry arms the close at the token's expiry; a later re-auth moves it.
func (s *session) setExpiry(exp, now time.Time) {
	deadline := exp.Add(s.srv.cfg.TokenLeeway)
	s.mu.Lock()
	s.expires = deadline
	s.mu.Unlock()
	s.setTimer(&s.expiryTimer, deadline.Sub(now), func() {
		s.q.closeIf(func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return !s.srv.cfg.Now().Before(s.expires)
		}, CloseTokenExpired, "token expired; reconnect with a new token")
	})
}

// ping runs on a timer: a device that does not answer in time is dropped.
func (s *session) ping() {
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.cfg.PongTimeout)
	defer cancel()
	if err := s.conn.Ping(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			s.log.Info("ping timeout")
			s.q.close(ClosePingTimeout, "no pong in time", false)
			// The peer is likely gone: do not wait for its close frame.
			s.conn.CloseNow()
		}
		return
	}
	s.setTimer(&s.pingTimer, s.srv.cfg.PingInterval, s.ping)
}

func (s *session) handleSend(f *inFrame) error {
	if (f.To == "") == (f.Conv == "") {
		return badFrame(`a send names exactly one of "to" (a user) and "conv" (a conversation)`)
	}
	if f.To != "" && !ValidID(f.To) {
		return badFrame(`"to" must be a user id: 1-64 letters, digits or . _ - @`)
	}
	if f.Conv != "" && !validConv(f.Conv) {
		return badFrame(`"conv" must be a conversation id`)
	}
	if !ValidID(f.CID) {
		return badFrame(`"cid" must be 1-64 letters, digits or . _ - @, unique per device`)
	}
	body, err := s.checkBody(f.Body)
	if err != nil {
		return err
	}
	return s.submit(f.ID, history.AppendRequest{From: s.user, Device: s.device, ClientID: f.CID, To: f.To, Conv: f.Conv, Body: body})
}

// compactBody returns a JSON object body without insignificant spaces.
func compactBody(raw []byte) ([]byte, error) {
	var body bytes.Buffer
	body.Grow(len(raw))
	if err := json.Compact(&body, raw); err != nil {
		return nil, badFrame(`"body" must be a JSON object`)
	}
	return body.Bytes(), nil
}

// submit queues req for commit and answers it with an ack (or error) frame
// once durable; at most MaxInFlight are queued per session.
func (s *session) submit(id string, req history.AppendRequest) error {
	select {
	case s.inflight <- struct{}{}:
	case <-s.stopRead:
		return &frameError{CodeUnavailable, "the server is shutting down; reconnect and retry"}
	}
	var start time.Time
	if s.srv.cfg.OnAck != nil {
		start = time.Now()
	}
	err := s.srv.cfg.Store.Submit(context.Background(), req, func(a history.Ack, err error) {
		if err != nil {
			s.replyErr(id, err)
		} else {
			s.reply(encodeAck(id, a))
			if s.srv.cfg.OnAck != nil {
				s.srv.cfg.OnAck(time.Since(start))
			}
		}
		<-s.inflight
	})
	if err != nil {
		<-s.inflight
		return err
	}
	return nil
}

func (s *session) handleSync(f *inFrame) error {
	if f.After == nil {
		return badFrame(`"after" is required: the last pts this device has`)
	}
	// Set before the request is queued: every entry committed after the
	// sync's snapshot then follows it in the queue.
	s.wantEntries.Store(true)
	s.q.push(outItem{sync: &syncRequest{id: f.ID, after: *f.After, groupsAfter: f.GroupsAfter}})
	return nil
}

func (s *session) handleReceived(f *inFrame) error {
	if f.Pts == nil {
		return badFrame(`"pts" is required`)
	}
	delivered := s.deliveredUpTo(*f.Pts)
	stored, moved, err := s.srv.cfg.Store.Confirm(context.Background(), s.user, s.device, *f.Pts, delivered)
	if err != nil {
		if errors.Is(err, history.ErrInvalid) {
			return badFrame(`"pts" is beyond the inbox head`)
		}
		return err
	}
	s.confirmed = stored
	s.reply(encodeJSON("cursor", f.ID, struct {
		Pts uint64 `json:"pts"`
	}{stored}))
	// Each sender whose messages this device now holds is told: the second
	// tick of a direct conversation.
	for _, d := range moved {
		members, _ := history.DirectMembers(d.Conv)
		frame := encodeJSON("delivered", "", struct {
			Conv string `json:"conv"`
			Seq  uint64 `json:"seq"`
			By   string `json:"by"`
		}{d.Conv, d.Seq, s.user})
		for _, m := range members {
			if m != s.user {
				s.srv.cfg.Router.Publish(m, Event{Frame: frame})
			}
		}
	}
	return nil
}

// maxDeliveredScan bounds the inbox entries one received frame reads for
// delivered marks: a device confirming a larger jump marks what the last
// ones hold (its reads mark the rest as read).
const maxDeliveredScan = 1000

// deliveredUpTo returns, per direct conversation, the highest seq from
// another user among the inbox entries this device confirms with pts: the
// entries after its last confirmation, which it was just sent (so they are
// read from the store's cache).
func (s *session) deliveredUpTo(pts uint64) []history.ConvSeq {
	lo := max(s.confirmed, pts-min(pts, maxDeliveredScan))
	if pts <= lo {
		return nil
	}
	entries, err := s.srv.cfg.Store.ReadInbox(s.user, lo, int(pts-lo))
	if err != nil {
		s.log.Warn("read inbox for delivered marks", logErr, err)
		return nil
	}
	var out []history.ConvSeq
	for _, e := range entries {
		m := e.Message
		if e.Pts > pts || m.From == s.user {
			continue
		}
		if _, direct := history.DirectMembers(m.Conv); !direct {
			continue
		}
		if i := slices.IndexFunc(out, func(d history.ConvSeq) bool { return d.Conv == m.Conv }); i >= 0 {
			out[i].Seq = max(out[i].Seq, m.Seq)
		} else {
			out = append(out, history.ConvSeq{Conv: m.Conv, Seq: m.Seq})
		}
	}
	return out
}

func (s *session) handleHistory(f *inFrame) error {
	if !validConv(f.Conv) {
		return badFrame(`"conv" must be a conversation id`)
	}
	if f.Limit < 0 || f.Limit > 500 {
		return badFrame(`"limit" must be 1-500`)
	}
	if f.After != nil {
		if f.Before != 0 {
			return badFrame(`a history page goes "before" a seq or "after" one, not both`)
		}
		return s.handleHistoryAfter(f)
	}
	msgs, more, err := s.srv.cfg.Store.History(s.user, f.Conv, f.Before, f.Limit)
	if err != nil {
		return err
	}
	s.replyHistory(f, msgs, more)
	return nil
}

func (s *session) replyHistory(f *inFrame, msgs []history.Message, more bool) {
	out := make([]messageJSON, len(msgs))
	for i := range msgs {
		out[i] = toMessageJSON(&msgs[i], s.user)
	}
	s.reply(encodeJSON("history", f.ID, struct {
		Conv     string        `json:"conv"`
		Messages []messageJSON `json:"messages"`
		More     bool          `json:"more"`
	}{f.Conv, out, more}))
}

type conversationJSON struct {
	Conv     string       `json:"conv"`
	Members  []string     `json:"members,omitempty"`
	Name     string       `json:"name,omitempty"`
	Size     int          `json:"size,omitempty"`
	Role     string       `json:"role,omitempty"`
	Left     bool         `json:"left,omitempty"`
	LastSeq  uint64       `json:"last_seq"`
	Last     *messageJSON `json:"last,omitempty"`
	ReadSeq  uint64       `json:"read_seq"`
	Unread   uint64       `json:"unread"`
	PeerRead uint64       `json:"peer_read"`
	// PeerDelivered is the highest seq the other member's devices confirmed
	// receiving (direct only).
	PeerDelivered uint64 `json:"peer_delivered,omitempty"`
}

func (s *session) handleConversations(f *inFrame) error {
	convs, err := s.srv.cfg.Store.Conversations(s.user)
	if err != nil {
		return err
	}
	s.reply(encodeJSON("conversations", f.ID, struct {
		Conversations []conversationJSON `json:"conversations"`
	}{s.conversationsJSON(convs)}))
	return nil
}

func (s *session) conversationsJSON(convs []history.Conversation) []conversationJSON {
	out := make([]conversationJSON, len(convs))
	for i, c := range convs {
		out[i] = conversationJSON{Conv: c.ID, Members: c.Members, Name: c.Name, Size: c.Size, Role: string(c.Role), Left: c.Left,
			LastSeq: c.LastSeq, ReadSeq: c.ReadSeq, Unread: c.Unread, PeerRead: c.PeerRead, PeerDelivered: c.PeerDelivered}
		if c.Last != nil {
			m := toMessageJSON(c.Last, s.user)
			out[i].Last = &m
		}
	}
	return out
}

func (s *session) handleRead(f *inFrame) error {
	if !validConv(f.Conv) {
		return badFrame(`"conv" must be a conversation id`)
	}
	if f.Seq == nil {
		return badFrame(`"seq" is required`)
	}
	mark, err := s.srv.cfg.Store.MarkRead(context.Background(), s.user, f.Conv, *f.Seq)
	if err != nil {
		if errors.Is(err, history.ErrInvalid) {
			return badFrame(`"seq" is beyond the conversation's last message`)
		}
		return err
	}
	s.reply(encodeJSON("marked", f.ID, struct {
		Conv string `json:"conv"`
		Seq  uint64 `json:"seq"`
	}{mark.Conv, mark.Seq}))
	if mark.Advanced && s.srv.cfg.Push != nil {
		if err := s.srv.cfg.Push.Read(context.Background(), s.user, mark.Conv, mark.Seq); err != nil {
			s.log.Error("push read update", logErr, err)
		}
	}
	if mark.Advanced {
		receipt := encodeJSON("receipt", "", struct {
			Conv   string `json:"conv"`
			User   string `json:"user"`
			Device string `json:"device"`
			Seq    uint64 `json:"seq"`
		}{mark.Conv, s.user, s.device, mark.Seq})
		for _, m := range mark.Members {
			ev := Event{Frame: receipt}
			if m == s.user {
				ev.SkipDevice = s.device
			}
			s.srv.cfg.Router.Publish(m, ev)
		}
	}
	return nil
}

// tokenBucket limits the frames one connection may send.
type tokenBucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func (b *tokenBucket) allow(now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = b.burst
	} else {
		b.tokens += now.Sub(b.last).Seconds() * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
