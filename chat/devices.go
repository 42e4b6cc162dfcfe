package chat

import (
	"context"

	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/offlinepush"
	"github.com/loftchat/loft/presence"
)

// enforceDeviceLimit kicks the user's oldest sessions of the new device's
// class beyond the configured limit. Each kicked device is recorded as such
// first, so the push layer stops pushing to it, then told and closed.
func (s *session) enforceDeviceLimit() {
	for _, d := range s.srv.cfg.Presence.OverLimit(s.user, s.device, s.srv.cfg.DeviceLimits) {
		if err := s.srv.cfg.Store.SetDeviceState(context.Background(), s.user, d.ID, history.DeviceKicked, true); err != nil {
			s.log.Error("record kicked device", "kicked", d.ID, logErr, err)
		}
		s.srv.unbindPush(s.user, d.ID, offlinepush.GoneKicked)
		s.srv.cfg.Router.Publish(s.user, Event{Kick: &Kick{Device: d.ID, Reason: KickDeviceLimit, By: s.device}})
	}
}

// kick ends this session: a kicked frame, then CloseKicked.
func (s *session) kick(k *Kick) {
	s.reply(encodeJSON("kicked", "", struct {
		Reason string `json:"reason"`
		By     string `json:"by"`
	}{k.Reason, k.By}))
	s.q.close(CloseKicked, "kicked: "+k.Reason, true)
}

type deviceJSON struct {
	Device   string `json:"device"`
	Platform string `json:"platform"`
	Online   bool   `json:"online"`
	State    string `json:"state"`
	LastSeen int64  `json:"last_seen"`
	Current  bool   `json:"current,omitempty"`
}

// handleDevices lists the user's devices: every one it logged in from, with
// whether it is online now.
func (s *session) handleDevices(f *inFrame) error {
	devs, err := s.srv.cfg.Store.Devices(s.user)
	if err != nil {
		return err
	}
	online := make(map[string]bool)
	for _, d := range s.srv.cfg.Presence.Devices(nil, s.user) {
		online[d.ID] = true
	}
	out := make([]deviceJSON, 0, len(devs))
	for _, d := range devs {
		out = append(out, deviceJSON{Device: d.ID, Platform: d.Platform, Online: online[d.ID], State: string(d.State), LastSeen: d.LastSeen, Current: d.ID == s.device})
	}
	s.reply(encodeJSON("devices", f.ID, struct {
		Devices []deviceJSON `json:"devices"`
	}{out}))
	return nil
}

// handleLogout ends this device's session for good: it is recorded as
// logged out (with whether its push token goes), answered, and closed with
// CloseLoggedOut. Its cursor stays: a later login of the device resumes.
func (s *session) handleLogout(f *inFrame) error {
	if f.UnbindPush == nil {
		return badFrame(`"unbind_push" is required: true removes this device's push token, false keeps it`)
	}
	if err := s.srv.cfg.Store.SetDeviceState(context.Background(), s.user, s.device, history.DeviceLoggedOut, *f.UnbindPush); err != nil {
		return err
	}
	if *f.UnbindPush {
		s.srv.unbindPush(s.user, s.device, offlinepush.GoneLoggedOut)
	}
	s.reply(encodeJSON("logged_out", f.ID, struct {
		Device string `json:"device"`
	}{s.device}))
	s.q.close(CloseLoggedOut, "logged out", true)
	return nil
}

// handleLogoutDevice logs out another of the user's devices: recorded, and
// if it is online, kicked.
func (s *session) handleLogoutDevice(f *inFrame) error {
	if !ValidID(f.Device) {
		return badFrame(`"device" must be one of your device ids`)
	}
	if f.Device == s.device {
		return badFrame(`to log out this device, send logout`)
	}
	if f.UnbindPush == nil {
		return badFrame(`"unbind_push" is required: true removes that device's push token, false keeps it`)
	}
	if err := s.srv.cfg.Store.SetDeviceState(context.Background(), s.user, f.Device, history.DeviceLoggedOut, *f.UnbindPush); err != nil {
		return err
	}
	if *f.UnbindPush {
		s.srv.unbindPush(s.user, f.Device, offlinepush.GoneLoggedOut)
	}
	s.srv.cfg.Router.Publish(s.user, Event{Kick: &Kick{Device: f.Device, Reason: KickLoggedOut, By: s.device}})
	s.reply(encodeJSON("logged_out", f.ID, struct {
		Device string `json:"device"`
	}{f.Device}))
	return nil
}

var _ Presence = (*presence.Tracker)(nil)
