package httpapi

import (
	"errors"
	"net/http"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/offlinepush"
)

// userResponse is a user's presence and devices. Its fields are in the
// order of their names, as the map it replaced encoded them.
type userResponse struct {
	Devices  []deviceJSON `json:"devices"`
	LastSeen int64        `json:"last_seen" doc:"Unix ms the last device disconnected; 0 while online or never seen"`
	Online   bool         `json:"online" doc:"whether any device is online"`
	User     string       `json:"user"`
}

type deviceJSON struct {
	Device      string   `json:"device"`
	Platform    string   `json:"platform"`
	Online      bool     `json:"online"`
	State       string   `json:"state" schema:"enum=active|kicked|logged_out"`
	LastSeen    int64    `json:"last_seen" doc:"Unix ms the device was last connected; 0 never"`
	PushVendors []string `json:"push_vendors"`
}

type kickRequest struct {
	UnbindPush *bool `json:"unbind_push" schema:"required" doc:"true removes the device's push tokens, false keeps them"`
}

// kickResponse is a kicked device. Its fields are in the order of their
// names, as the map it replaced encoded them.
type kickResponse struct {
	Device string              `json:"device"`
	State  history.DeviceState `json:"state" schema:"enum=kicked"`
	User   string              `json:"user"`
}

type pushTokenRequest struct {
	Vendor     string `json:"vendor" schema:"required,min=1" doc:"a push vendor the server is configured with, e.g. fcm or apns"`
	Token      string `json:"token" schema:"required,min=1,max=4096"`
	Credential string `json:"credential" schema:"max=64" doc:"which of the vendor's credentials sends to this token; absent: its default"`
	Platform   string `json:"platform" doc:"the device's platform, e.g. ios or android"`
}

// pushTokenResponse is a registered token. Its fields are in the order of
// their names, as the map it replaced encoded them.
type pushTokenResponse struct {
	Device string `json:"device"`
	User   string `json:"user"`
	Vendor string `json:"vendor"`
}

// getUser answers a user's presence and devices.
func (a *API) getUser(w http.ResponseWriter, r *http.Request, _ *keyState) {
	t, err := target(r)
	if err != nil {
		fail(w, err)
		return
	}
	devs, err := a.cfg.Store.Devices(t.User)
	if err != nil {
		fail(w, err)
		return
	}
	online := map[string]bool{}
	if a.cfg.Presence != nil {
		for _, d := range a.cfg.Presence.Devices(nil, t.User) {
			online[d.ID] = true
		}
	}
	vendors := map[string][]string{}
	if a.cfg.Push != nil {
		for _, b := range a.cfg.Push.Bindings(t.User) {
			vendors[b.Device] = append(vendors[b.Device], b.Vendor)
		}
	}
	out := []deviceJSON{}
	var lastSeen int64
	anyOnline := false
	for _, d := range devs {
		v := vendors[d.ID]
		if v == nil {
			v = []string{}
		}
		out = append(out, deviceJSON{Device: d.ID, Platform: d.Platform, Online: online[d.ID], State: string(d.State), LastSeen: d.LastSeen, PushVendors: v})
		lastSeen = max(lastSeen, d.LastSeen)
		anyOnline = anyOnline || online[d.ID]
	}
	if anyOnline {
		lastSeen = 0
	}
	writeJSON(w, http.StatusOK, userResponse{Devices: out, LastSeen: lastSeen, Online: anyOnline, User: t.User})
}

// kick ends a device's session (it gets a kicked frame and close code
// 4006), records it as kicked, and removes its push tokens if asked.
func (a *API) kick(w http.ResponseWriter, r *http.Request, _ *keyState) {
	t, err := target(r)
	if err != nil {
		fail(w, err)
		return
	}
	var req kickRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	if req.UnbindPush == nil {
		fail(w, badField("/unbind_push", "required: true removes the device's push tokens, false keeps them"))
		return
	}
	if err := a.cfg.Store.SetDeviceState(r.Context(), t.User, t.Device, history.DeviceKicked, *req.UnbindPush); err != nil {
		fail(w, err)
		return
	}
	if *req.UnbindPush && a.cfg.Push != nil {
		if err := a.cfg.Push.Unbind(r.Context(), t.User, t.Device, offlinepush.GoneKicked); err != nil {
			fail(w, err)
			return
		}
	}
	if a.cfg.Router != nil {
		a.cfg.Router.Publish(t.User, chat.Event{Kick: &chat.Kick{Device: t.Device, Reason: KickByBackend, By: "api"}})
	}
	writeJSON(w, http.StatusOK, kickResponse{Device: t.Device, State: history.DeviceKicked, User: t.User})
}

// KickByBackend is the reason of a kick from the HTTP API.
const KickByBackend = "kicked_by_backend"

// putToken registers a push token on behalf of a device.
func (a *API) putToken(w http.ResponseWriter, r *http.Request, _ *keyState) {
	if a.cfg.Push == nil {
		problem(w, http.StatusNotImplemented, "not-implemented", "No push here", "this server runs without a push layer", "")
		return
	}
	t, err := target(r)
	if err != nil {
		fail(w, err)
		return
	}
	var req pushTokenRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	switch {
	case req.Token == "" || len(req.Token) > 4096:
		fail(w, badField("/token", "1-4096 bytes"))
		return
	case len(req.Credential) > 64:
		fail(w, badField("/credential", "at most 64 bytes"))
		return
	}
	err = a.cfg.Push.Register(r.Context(), offlinepush.Binding{User: t.User, Device: t.Device, Vendor: req.Vendor, Token: req.Token, Credential: req.Credential, Platform: req.Platform})
	if errors.Is(err, offlinepush.ErrInvalid) {
		err = badField("/vendor", err.Error()) // the one check left to Register: is it configured
	}
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, pushTokenResponse{Device: t.Device, User: t.User, Vendor: req.Vendor})
}

// deleteToken removes a device's push tokens.
func (a *API) deleteToken(w http.ResponseWriter, r *http.Request, _ *keyState) {
	if a.cfg.Push == nil {
		problem(w, http.StatusNotImplemented, "not-implemented", "No push here", "this server runs without a push layer", "")
		return
	}
	t, err := target(r)
	if err != nil {
		fail(w, err)
		return
	}
	if err := a.cfg.Push.Unbind(r.Context(), t.User, t.Device, ""); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
