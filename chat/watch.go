package chat

import (
	"errors"
	"strconv"

	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/presence"
)

// maxPresenceUsers bounds the users one presence_sub frame names.
const maxPresenceUsers = 1000

// PresenceChanged tells the sessions that watch ch.User that it came online
// or went offline. Wire it as presence.Config.OnChange of the Tracker given
// as Config.Presence (New does so for the default Tracker). It does not
// block: each watcher's frame is queued.
func (s *Server) PresenceChanged(ch presence.Change) {
	var buf [16]*session
	watchers := s.watchers.Append(buf[:0], ch.User)
	if len(watchers) == 0 {
		return
	}
	var lastSeen int64
	if !ch.Online {
		lastSeen = ch.LastSeen.UnixMilli()
	}
	frame := encodePresence(ch.User, ch.Online, lastSeen)
	for _, w := range watchers {
		w.reply(frame)
	}
}

func encodePresence(user string, online bool, lastSeen int64) []byte {
	b := make([]byte, 0, 64+len(user))
	b = appendHead(b, "presence", "")
	b = append(b, `,"user":`...)
	b = appendString(b, user)
	b = append(b, `,"online":`...)
	b = strconv.AppendBool(b, online)
	b = append(b, `,"last_seen":`...)
	b = strconv.AppendInt(b, lastSeen, 10)
	return append(b, '}')
}

type presenceJSON struct {
	User     string `json:"user"`
	Online   bool   `json:"online"`
	LastSeen int64  `json:"last_seen"`
}

// handlePresenceSub subscribes the session to the presence of the users it
// shares a conversation with, answers their state now, and lists the
// others as denied. Later changes come as presence frames.
func (s *session) handlePresenceSub(f *inFrame) error {
	users, err := checkUsers(f.Users)
	if err != nil {
		return err
	}
	shared, err := s.srv.cfg.Store.SharedWith(s.user, users)
	if err != nil {
		return err
	}
	allowed := make([]string, 0, len(users))
	denied := []string{}
	for i, u := range users {
		if shared[i] {
			allowed = append(allowed, u)
		} else {
			denied = append(denied, u)
		}
	}
	// Watch before reading the state, so that no change falls between.
	if err := s.srv.watchers.Watch(s, allowed); err != nil {
		if errors.Is(err, presence.ErrTooManyWatched) {
			return &frameError{CodeTooMany, "a session may watch at most " + strconv.Itoa(s.srv.cfg.MaxWatched) + " users"}
		}
		return err
	}
	states := make([]presenceJSON, 0, len(allowed))
	var devs []presence.Device
	for _, u := range allowed {
		devs = s.srv.cfg.Presence.Devices(devs[:0], u)
		st := presenceJSON{User: u, Online: len(devs) > 0}
		if !st.Online {
			st.LastSeen = s.lastSeen(u)
		}
		states = append(states, st)
	}
	s.reply(encodeJSON("presence_state", f.ID, struct {
		Users  []presenceJSON `json:"users"`
		Denied []string       `json:"denied"`
	}{states, denied}))
	return nil
}

// lastSeen is when any device of user was last connected, 0 if unknown.
func (s *session) lastSeen(user string) int64 {
	devs, err := s.srv.cfg.Store.Devices(user)
	if err != nil {
		s.log.Error("read devices", logErr, err)
	}
	var last int64
	for _, d := range devs {
		last = max(last, d.LastSeen)
	}
	return last
}

func (s *session) handlePresenceUnsub(f *inFrame) error {
	users, err := checkUsers(f.Users)
	if err != nil {
		return err
	}
	s.srv.watchers.Unwatch(s, users)
	s.reply(encodeJSON("presence_unsubscribed", f.ID, struct {
		Users []string `json:"users"`
	}{users}))
	return nil
}

func checkUsers(users []string) ([]string, error) {
	if len(users) == 0 || len(users) > maxPresenceUsers {
		return nil, badFrame(`"users" must name 1-` + strconv.Itoa(maxPresenceUsers) + ` users`)
	}
	for _, u := range users {
		if !ValidID(u) {
			return nil, badFrame(`"users" must be user ids: 1-64 letters, digits or . _ - @`)
		}
	}
	return users, nil
}

// handleTyping relays a typing indicator to the other members' online
// devices. Nothing is stored and nothing answers it, but an error: a
// session may send a few per second, and a group too large for write
// fan-out gets none (thousands of frames per keystroke).
func (s *session) handleTyping(f *inFrame) error {
	if !validConv(f.Conv) {
		return badFrame(`"conv" must be a conversation id`)
	}
	state := f.State
	switch state {
	case "":
		state = "start"
	case "start", "stop":
	default:
		return badFrame(`"state" must be "start" or "stop"`)
	}
	if !s.typingBucket.allow(s.srv.cfg.Now()) {
		return &frameError{CodeRateLimited, "too many typing frames; at most " + strconv.FormatFloat(s.srv.cfg.TypingRate, 'g', -1, 64) + " per second"}
	}
	var to []string
	if validGroup(f.Conv) {
		g, err := s.srv.cfg.Store.Group(f.Conv)
		if err != nil {
			return err
		}
		if _, ok := g.Member(s.user); !ok {
			return history.ErrNotFound
		}
		if g.Len() > s.srv.cfg.TypingFanout {
			return nil
		}
		for _, m := range g.Members() {
			if m.User != s.user {
				to = append(to, m.User)
			}
		}
	} else {
		a, b, ok := directPeers(f.Conv)
		if !ok || (a != s.user && b != s.user) {
			return history.ErrNotFound
		}
		peer := a
		if a == s.user {
			peer = b
		}
		if peer == s.user {
			return nil // a note to self
		}
		shared, err := s.srv.cfg.Store.SharedWith(s.user, []string{peer})
		if err != nil {
			return err
		}
		if !shared[0] {
			return history.ErrNotFound
		}
		to = []string{peer}
	}
	b := appendHead(make([]byte, 0, 96+len(f.Conv)), "typing", "")
	b = append(b, `,"conv":`...)
	b = appendString(b, f.Conv)
	b = append(b, `,"user":`...)
	b = appendString(b, s.user)
	b = append(b, `,"device":`...)
	b = appendString(b, s.device)
	b = append(b, `,"state":`...)
	b = appendString(b, state)
	b = append(b, '}')
	ev := Event{Frame: b}
	for _, u := range to {
		s.srv.cfg.Router.Publish(u, ev)
	}
	return nil
}

// directPeers splits a direct conversation id "d:a:b".
func directPeers(conv string) (a, b string, ok bool) {
	if len(conv) < 5 || conv[:2] != "d:" {
		return "", "", false
	}
	rest := conv[2:]
	for i := 0; i < len(rest); i++ {
		if rest[i] == ':' {
			a, b = rest[:i], rest[i+1:]
			return a, b, ValidID(a) && ValidID(b)
		}
	}
	return "", "", false
}
