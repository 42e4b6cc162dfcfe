package httpapi

import (
	"net/http"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/offlinepush"
)

func (a *API) userRoutes() {
	a.mux.Handle("GET /v1/users/{user}", a.auth(ScopeAdmin, a.getUser))
	a.mux.Handle("POST /v1/users/{user}/devices/{device}/kick", a.auth(ScopeAdmin, a.idempotent(a.kick)))
	a.mux.Handle("POST /v1/users/{user}/devices/{device}/push-token", a.auth(ScopeAdmin, a.idempotent(a.putToken)))
	a.mux.Handle("DELETE /v1/users/{user}/devices/{device}/push-token", a.auth(ScopeAdmin, a.deleteToken))
}

type deviceJSON struct {
	Device      string   `json:"device"`
	Platform    string   `json:"platform"`
	Online      bool     `json:"online"`
	State       string   `json:"state"`
	LastSeen    int64    `json:"last_seen"`
	PushVendors []string `json:"push_vendors"`
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
	writeJSON(w, http.StatusOK, map[string]any{"user": t.User, "online": anyOnline, "last_seen": lastSeen, "devices": out})
}

// kick ends a device's session (it gets a kicked frame and close code
// 4006), records it as kicked, and removes its push tokens if asked.
func (a *API) kick(w http.ResponseWriter, r *http.Request, _ *keyState) {
	t, err := target(r)
	if err != nil {
		fail(w, err)
		return
	}
	var req struct {
		UnbindPush *bool `json:"unbind_push"`
	}
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
	writeJSON(w, http.StatusOK, map[string]any{"user": t.User, "device": t.Device, "state": history.DeviceKicked})
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
	var req struct {
		Vendor     string `json:"vendor"`
		Token      string `json:"token"`
		Credential string `json:"credential"`
		Platform   string `json:"platform"`
	}
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	err = a.cfg.Push.Register(r.Context(), offlinepush.Binding{User: t.User, Device: t.Device, Vendor: req.Vendor, Token: req.Token, Credential: req.Credential, Platform: req.Platform})
	if err != nil {
		fail(w, badField("/vendor", err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": t.User, "device": t.Device, "vendor": req.Vendor})
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
