package chat

import (
	"context"
	"errors"
	"time"

	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/offlinepush"
)

// Pusher is the offline-push layer as the chat core uses it
// (*offlinepush.Service). Optional: without one, nothing is pushed and the
// push frames answer unavailable.
type Pusher interface {
	// Wants and Handle take committed messages: Handle never blocks.
	Wants(user string) bool
	Handle(msgs []offlinepush.Message)
	Register(ctx context.Context, b offlinepush.Binding) error
	Unbind(ctx context.Context, user, device, reason string) error
	Settings(user string) (offlinepush.Settings, error)
	SetSettings(ctx context.Context, user string, st offlinepush.Settings) (offlinepush.Settings, error)
	Mutes(user string) (map[string]offlinepush.Mute, error)
	SetMute(ctx context.Context, user, conv string, muted bool, until time.Time) error
	Read(ctx context.Context, user, conv string, seq uint64) error
	Opened(ctx context.Context, user, device string, msgID uint64) error
}

var _ Pusher = (*offlinepush.Service)(nil)

// PushMessages converts a committed batch into what the push layer takes:
// the messages with a recipient, other than the sender, it wants.
func PushMessages(p Pusher, batch []history.Appended) []offlinepush.Message {
	var out []offlinepush.Message
	for _, a := range batch {
		m := a.Message
		var rs []offlinepush.Recipient
		for _, r := range a.Inbox {
			if r.User != m.From && p.Wants(r.User) {
				rs = append(rs, offlinepush.Recipient{User: r.User, Pts: r.Pts})
			}
		}
		if len(rs) > 0 {
			out = append(out, offlinepush.Message{ID: m.ID, Conv: m.Conv, Seq: m.Seq, From: m.From, Kind: m.Kind, Time: m.Time, Body: m.Body, Recipients: rs})
		}
	}
	return out
}

// PushKV is the push layer's KV on a history.Table, so push records live
// in the message store's database.
type PushKV struct{ Table *history.Table }

var _ offlinepush.KV = PushKV{}

// Get implements offlinepush.KV.
func (kv PushKV) Get(key []byte) ([]byte, bool, error) { return kv.Table.Get(key) }

// Scan implements offlinepush.KV.
func (kv PushKV) Scan(prefix []byte, fn func(k, v []byte) error) error {
	return kv.Table.Scan(prefix, fn)
}

// Apply implements offlinepush.KV.
func (kv PushKV) Apply(ctx context.Context, ops ...offlinepush.Op) error {
	tops := make([]history.TableOp, len(ops))
	for i, op := range ops {
		tops[i] = history.TableOp{Key: op.Key, Value: op.Value, Delete: op.Delete}
	}
	return kv.Table.Apply(ctx, tops...)
}

// PushFacts answers the push layer's questions from the store and the
// presence tracker.
type PushFacts struct {
	Store    Store
	Presence Presence
}

var _ offlinepush.Facts = PushFacts{}

// Devices implements offlinepush.Facts.
func (f PushFacts) Devices(user string) ([]offlinepush.DeviceInfo, error) {
	devs, err := f.Store.Devices(user)
	if err != nil {
		return nil, err
	}
	online := f.Presence.Devices(nil, user)
	out := make([]offlinepush.DeviceInfo, 0, len(devs))
	for _, d := range devs {
		info := offlinepush.DeviceInfo{ID: d.ID}
		for _, o := range online {
			info.Online = info.Online || o.ID == d.ID
		}
		out = append(out, info)
	}
	return out, nil
}

// Cursor implements offlinepush.Facts.
func (f PushFacts) Cursor(user, device string) (uint64, error) { return f.Store.Cursor(user, device) }

// Unread implements offlinepush.Facts: the unread messages of all of the
// user's conversations.
func (f PushFacts) Unread(user string) (int, error) {
	n, err := f.Store.Unread(user)
	return int(n), err
}

// ConvName implements offlinepush.Facts.
func (f PushFacts) ConvName(conv string) string {
	if !validGroup(conv) {
		return ""
	}
	g, err := f.Store.Group(conv)
	if err != nil {
		return ""
	}
	return g.Name
}

// errNoPush answers push frames on a server without a push layer.
var errNoPush = &frameError{CodeUnavailable, "this server has no push service configured"}

// pushErr words a push layer error for the client.
func pushErr(err error) error {
	if errors.Is(err, offlinepush.ErrInvalid) {
		msg := err.Error()
		if len(msg) > len("offlinepush: invalid: ") {
			msg = msg[len("offlinepush: invalid: "):]
		}
		return badFrame(msg)
	}
	return err
}

// handlePushRegister binds this device's push token of a vendor.
func (s *session) handlePushRegister(f *inFrame) error {
	p := s.srv.cfg.Push
	if p == nil {
		return errNoPush
	}
	if !ValidID(f.Vendor) {
		return badFrame(`"vendor" must be a configured push vendor`)
	}
	if f.Credential != "" && !ValidID(f.Credential) {
		return badFrame(`"credential" must be a credential name: 1-64 letters, digits or . _ - @`)
	}
	b := offlinepush.Binding{User: s.user, Device: s.device, Vendor: f.Vendor, Token: f.Token, Credential: f.Credential, Platform: s.platform}
	if err := p.Register(context.Background(), b); err != nil {
		return pushErr(err)
	}
	s.reply(encodeJSON("push_registered", f.ID, struct {
		Vendor string `json:"vendor"`
	}{f.Vendor}))
	return nil
}

// handlePushUnregister removes this device's push tokens.
func (s *session) handlePushUnregister(f *inFrame) error {
	p := s.srv.cfg.Push
	if p == nil {
		return errNoPush
	}
	if err := p.Unbind(context.Background(), s.user, s.device, ""); err != nil {
		return err
	}
	s.reply(encodeJSON("push_unregistered", f.ID, struct{}{}))
	return nil
}

type pushSettingsJSON struct {
	Settings offlinepush.Settings        `json:"settings"`
	Mutes    map[string]offlinepush.Mute `json:"mutes"`
}

// handlePushSettings answers the user's push settings and mutes; with
// "settings" it replaces them first and tells the user's other devices.
func (s *session) handlePushSettings(f *inFrame) error {
	p := s.srv.cfg.Push
	if p == nil {
		return errNoPush
	}
	st, err := p.Settings(s.user)
	if err != nil {
		return err
	}
	if f.Settings != nil {
		if st, err = p.SetSettings(context.Background(), s.user, *f.Settings); err != nil {
			return pushErr(err)
		}
	}
	mutes, err := p.Mutes(s.user)
	if err != nil {
		return err
	}
	s.reply(encodeJSON("push_settings", f.ID, pushSettingsJSON{st, mutes}))
	if f.Settings != nil {
		s.srv.cfg.Router.Publish(s.user, Event{SkipDevice: s.device, Frame: encodeJSON("push_settings", "", pushSettingsJSON{st, mutes})})
	}
	return nil
}

// handleMute mutes or unmutes a conversation for the user, on all its
// devices.
func (s *session) handleMute(f *inFrame) error {
	p := s.srv.cfg.Push
	if p == nil {
		return errNoPush
	}
	if !validConv(f.Conv) {
		return badFrame(`"conv" must be a conversation id`)
	}
	if f.Muted == nil {
		return badFrame(`"muted" is required: true or false`)
	}
	var until time.Time
	if f.Until != 0 {
		until = time.UnixMilli(int64(f.Until))
	}
	if err := p.SetMute(context.Background(), s.user, f.Conv, *f.Muted, until); err != nil {
		return pushErr(err)
	}
	frame := func(id string) []byte {
		return encodeJSON("muted", id, struct {
			Conv  string `json:"conv"`
			Muted bool   `json:"muted"`
			Until uint64 `json:"until"`
		}{f.Conv, *f.Muted, f.Until})
	}
	s.reply(frame(f.ID))
	s.srv.cfg.Router.Publish(s.user, Event{SkipDevice: s.device, Frame: frame("")})
	return nil
}

// handlePushOpened records that the user opened a push on this device.
func (s *session) handlePushOpened(f *inFrame) error {
	p := s.srv.cfg.Push
	if p == nil {
		return errNoPush
	}
	if f.MsgID == nil {
		return badFrame(`"msg_id" is required`)
	}
	if err := p.Opened(context.Background(), s.user, s.device, *f.MsgID); err != nil {
		if errors.Is(err, offlinepush.ErrInvalid) {
			return &frameError{CodeNotFound, "no push of that message to this device"}
		}
		return err
	}
	s.reply(encodeJSON("push_opened", f.ID, struct {
		MsgID uint64 `json:"msg_id"`
	}{*f.MsgID}))
	return nil
}

// unbindPush removes the device's tokens when it logs out asking for it,
// or is kicked.
func (s *Server) unbindPush(user, device, reason string) {
	if s.cfg.Push == nil {
		return
	}
	if err := s.cfg.Push.Unbind(context.Background(), user, device, reason); err != nil {
		s.log.Error("unbind push tokens", logUser, user, logDevice, device, logErr, err)
	}
}
