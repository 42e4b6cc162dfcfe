package httpapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/offlinepush"
)

// broadcastEvery is the least time between two pushes to everyone.
const broadcastEvery = 3 * time.Second

func (a *API) pushRoutes() {
	a.mux.Handle("POST /v1/pushes", a.auth(ScopePush, a.idempotent(a.postPush)))
	a.mux.Handle("DELETE /v1/pushes/{id}", a.auth(ScopePush, a.deletePush))
	a.mux.Handle("GET /v1/pushes/{id}/report", a.auth(ScopePush, a.pushReport))
}

type pushRequest struct {
	Users   []string `json:"users"`
	Devices []struct {
		User   string `json:"user"`
		Device string `json:"device"`
	} `json:"devices"`
	Tags      string                          `json:"tags"`
	All       bool                            `json:"all"`
	Title     string                          `json:"title"`
	Body      string                          `json:"body"`
	Data      map[string]string               `json:"data"`
	Platforms map[string]offlinepush.Template `json:"platforms"`
	SendAt    *time.Time                      `json:"send_at"`
}

// postPush sends (or schedules) a notification, not a chat message, to
// users, devices, a tag expression or every device.
func (a *API) postPush(w http.ResponseWriter, r *http.Request, _ *keyState) {
	if a.cfg.Push == nil {
		problem(w, http.StatusNotImplemented, "not-implemented", "No push here", "this server runs without a push layer", "")
		return
	}
	var req pushRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	targets := 0
	for _, set := range []bool{req.Users != nil, req.Devices != nil, req.Tags != "", req.All} {
		if set {
			targets++
		}
	}
	if targets != 1 {
		fail(w, badField("/users", `name exactly one of "users", "devices", "tags" and "all"`))
		return
	}
	if req.Title == "" && req.Body == "" && len(req.Data) == 0 {
		fail(w, badField("/title", "a push shows a title or body, or carries data"))
		return
	}
	if len(req.Title) > 256 || len(req.Body) > 4096 {
		fail(w, badField("/body", "a title of at most 256 bytes and a body of at most 4,096"))
		return
	}
	var to []offlinepush.Binding
	var err error
	switch {
	case req.Users != nil:
		if err = checkUsers("/users", req.Users); err == nil && len(req.Users) == 0 {
			err = badField("/users", "1 to 1,000 users")
		}
		for _, u := range req.Users {
			to = append(to, a.cfg.Push.Bindings(u)...)
		}
	case req.Devices != nil:
		if len(req.Devices) == 0 || len(req.Devices) > maxUsers {
			err = badField("/devices", "1 to 1,000 devices")
		}
		for i, d := range req.Devices {
			if !chat.ValidID(d.User) || !chat.ValidID(d.Device) {
				err = badField(fmt.Sprintf("/devices/%d", i), "a user and a device id")
				break
			}
			for _, b := range a.cfg.Push.Bindings(d.User) {
				if b.Device == d.Device {
					to = append(to, b)
				}
			}
		}
	case req.Tags != "":
		to, err = a.tagged(req.Tags)
	case req.All:
		a.broadcastMu.Lock()
		now := a.cfg.Now()
		wait := broadcastEvery - now.Sub(a.lastBroadcast)
		if wait > 0 {
			a.broadcastMu.Unlock()
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			problem(w, http.StatusTooManyRequests, "rate-limited", "Too many broadcasts", "a push to everyone at most every 3 s", "/all")
			return
		}
		a.lastBroadcast = now
		a.broadcastMu.Unlock()
		err = a.cfg.Push.AllBindings(func(b offlinepush.Binding) error { to = append(to, b); return nil })
	}
	if err != nil {
		fail(w, err)
		return
	}
	c := offlinepush.Campaign{Title: req.Title, Body: req.Body, Data: req.Data, Platforms: req.Platforms}
	if req.SendAt != nil {
		c.SendAt = *req.SendAt
	}
	id, err := a.cfg.Push.SendCampaign(r.Context(), c, to)
	if err != nil {
		fail(w, err)
		return
	}
	sendAt := a.cfg.Now()
	if c.SendAt.After(sendAt) {
		sendAt = c.SendAt
	}
	writeJSON(w, http.StatusCreated, map[string]any{"push_id": strconv.FormatUint(id, 10), "devices": len(to), "send_at": sendAt.UTC().Format(time.RFC3339)})
}

// tagged resolves a tag expression to the bindings of the devices it
// selects: a device's own tags and its user's.
func (a *API) tagged(expr string) ([]offlinepush.Binding, error) {
	if a.cfg.Tags == nil {
		return nil, badField("/tags", "this server has no tags")
	}
	e, err := offlinepush.ParseExpr(expr)
	if err != nil {
		return nil, badField("/tags", err.Error())
	}
	var to []offlinepush.Binding
	err = a.cfg.Tags.Match(e, func(t offlinepush.Target) error {
		bindings := a.cfg.Push.Bindings(t.User)
		if t.Device != "" {
			for _, b := range bindings {
				if b.Device == t.Device {
					to = append(to, b)
				}
			}
			return nil
		}
		// A user-level match stands for its devices without tags of their own.
		own, err := a.cfg.Tags.TaggedDevices(t.User)
		if err != nil {
			return err
		}
		for _, b := range bindings {
			if !slices.Contains(own, b.Device) {
				to = append(to, b)
			}
		}
		return nil
	})
	return to, err
}

func pushID(r *http.Request) (uint64, error) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, badField("/id", "a push id")
	}
	return id, nil
}

// deletePush cancels a push whose send time has not come.
func (a *API) deletePush(w http.ResponseWriter, r *http.Request, _ *keyState) {
	if a.cfg.Push == nil {
		problem(w, http.StatusNotImplemented, "not-implemented", "No push here", "this server runs without a push layer", "")
		return
	}
	id, err := pushID(r)
	if err != nil {
		fail(w, err)
		return
	}
	switch err := a.cfg.Push.CancelCampaign(r.Context(), id); {
	case errors.Is(err, offlinepush.ErrNoCampaign):
		problem(w, http.StatusNotFound, "not-found", "No such push", "", "")
	case errors.Is(err, offlinepush.ErrStarted):
		problem(w, http.StatusConflict, "started", "The push has started", "only a push whose send_at has not come can be cancelled", "")
	case err != nil:
		fail(w, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// pushReport counts what became of a push on its devices, now.
func (a *API) pushReport(w http.ResponseWriter, r *http.Request, _ *keyState) {
	if a.cfg.Push == nil {
		problem(w, http.StatusNotImplemented, "not-implemented", "No push here", "this server runs without a push layer", "")
		return
	}
	id, err := pushID(r)
	if err != nil {
		fail(w, err)
		return
	}
	exists, cancelled, err := a.cfg.Push.CampaignExists(id)
	if err != nil {
		fail(w, err)
		return
	}
	if !exists {
		problem(w, http.StatusNotFound, "not-found", "No such push", "", "")
		return
	}
	os, err := a.cfg.Push.Outcomes(id)
	if err != nil {
		fail(w, err)
		return
	}
	rep := map[string]any{"push_id": strconv.FormatUint(id, 10), "cancelled": cancelled, "devices": len(os)}
	pushed, failed := map[string]int{}, map[string]int{}
	queued, removed, opened := 0, 0, 0
	for _, o := range os {
		switch o.Status {
		case offlinepush.StatusPushed:
			pushed[o.Vendor]++
		case offlinepush.StatusFailed:
			failed[o.Reason]++
		case offlinepush.StatusQueued:
			queued++
		}
		if o.TokenRemoved {
			removed++
		}
		if o.Opened {
			opened++
		}
	}
	rep["queued"], rep["pushed"], rep["push_failed"], rep["tokens_removed"], rep["opened"] = queued, pushed, failed, removed, opened
	writeJSON(w, http.StatusOK, rep)
}
