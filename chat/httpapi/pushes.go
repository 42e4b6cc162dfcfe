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

type pushRequest struct {
	Users     []string                        `json:"users" schema:"ref=UserID,min=1,max=1000"`
	Devices   []pushDevice                    `json:"devices" schema:"min=1,max=1000"`
	Tags      string                          `json:"tags" schema:"min=1" doc:"a tag expression: tags, AND, OR, NOT and parentheses"`
	All       bool                            `json:"all" doc:"true: every device with a push token"`
	Title     string                          `json:"title" schema:"max=256" doc:"at most 256 bytes"`
	Body      string                          `json:"body" schema:"max=4096" doc:"at most 4,096 bytes"`
	Data      map[string]string               `json:"data" doc:"string values the app gets (type and push_id are Loft's); with no title and body, a silent push"`
	Platforms map[string]offlinepush.Template `json:"platforms" doc:"the text for devices of a platform, by platform"`
	SendAt    *time.Time                      `json:"send_at" doc:"when to send; absent or past: now"`
}

// extendSchema says what the struct cannot: exactly one target (all only
// counts when true); a title, a body or data.
func (pushRequest) extendSchema(s map[string]any) {
	s["oneOf"] = []any{
		map[string]any{"required": []any{"users"}},
		map[string]any{"required": []any{"devices"}},
		map[string]any{"required": []any{"tags"}},
		map[string]any{"required": []any{"all"}, "properties": map[string]any{"all": map[string]any{"const": true}}},
	}
	s["anyOf"] = []any{
		map[string]any{"required": []any{"title"}, "properties": map[string]any{"title": map[string]any{"minLength": 1}}},
		map[string]any{"required": []any{"body"}, "properties": map[string]any{"body": map[string]any{"minLength": 1}}},
		map[string]any{"required": []any{"data"}, "properties": map[string]any{"data": map[string]any{"minProperties": 1}}},
	}
}

type pushDevice struct {
	User   string `json:"user" schema:"required,ref=ID"`
	Device string `json:"device" schema:"required,ref=ID"`
}

// pushCreated is an accepted push. Its fields are in the order of their
// names, as the map it replaced encoded them.
type pushCreated struct {
	Devices int    `json:"devices" doc:"the devices it targets, resolved now"`
	PushID  string `json:"push_id" schema:"ref=DecimalID" doc:"a string: it does not fit a JSON number exactly"`
	SendAt  string `json:"send_at" schema:"format=date-time"`
}

// pushReport counts what became of a push. Its fields are in the order of
// their names, as the map it replaced encoded them.
type pushReport struct {
	Cancelled     bool           `json:"cancelled"`
	Devices       int            `json:"devices" doc:"devices targeted"`
	Opened        int            `json:"opened"`
	PushFailed    map[string]int `json:"push_failed" doc:"by reason; cancelled for a cancelled push"`
	PushID        string         `json:"push_id" schema:"ref=DecimalID"`
	Pushed        map[string]int `json:"pushed" doc:"by vendor"`
	Queued        int            `json:"queued"`
	TokensRemoved int            `json:"tokens_removed"`
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
	if len(req.Title) > 256 {
		fail(w, badField("/title", "at most 256 bytes"))
		return
	}
	if len(req.Body) > 4096 {
		fail(w, badField("/body", "at most 4,096 bytes"))
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
	writeJSON(w, http.StatusCreated, pushCreated{Devices: len(to), PushID: strconv.FormatUint(id, 10), SendAt: sendAt.UTC().Format(time.RFC3339)})
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
	rep := pushReport{PushID: strconv.FormatUint(id, 10), Cancelled: cancelled, Devices: len(os), Pushed: map[string]int{}, PushFailed: map[string]int{}}
	for _, o := range os {
		switch o.Status {
		case offlinepush.StatusPushed:
			rep.Pushed[o.Vendor]++
		case offlinepush.StatusFailed:
			rep.PushFailed[o.Reason]++
		case offlinepush.StatusQueued:
			rep.Queued++
		}
		if o.TokenRemoved {
			rep.TokensRemoved++
		}
		if o.Opened {
			rep.Opened++
		}
	}
	writeJSON(w, http.StatusOK, rep)
}
