package httpapi

import (
	"errors"
	"net/http"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/offlinepush"
)

func (a *API) tagRoutes() {
	for _, p := range []string{"/v1/users/{user}/tags", "/v1/users/{user}/devices/{device}/tags"} {
		a.mux.Handle("GET "+p, a.auth(ScopePush, a.getTags))
		a.mux.Handle("POST "+p, a.auth(ScopePush, a.idempotent(a.changeTags(true))))
		a.mux.Handle("DELETE "+p, a.auth(ScopePush, a.changeTags(false)))
	}
	a.mux.Handle("GET /v1/tags", a.auth(ScopePush, a.listTags))
}

// target reads the user and device of a tags path.
func target(r *http.Request) (offlinepush.Target, error) {
	t := offlinepush.Target{User: r.PathValue("user"), Device: r.PathValue("device")}
	if !chat.ValidID(t.User) {
		return t, badField("/user", "a user id")
	}
	if r.PathValue("device") != "" && !chat.ValidID(t.Device) {
		return t, badField("/device", "a device id")
	}
	return t, nil
}

func (a *API) getTags(w http.ResponseWriter, r *http.Request, _ *keyState) {
	if a.noTags(w) {
		return
	}
	t, err := target(r)
	if err != nil {
		fail(w, err)
		return
	}
	tags, err := a.cfg.Tags.Of(t)
	if err != nil {
		fail(w, err)
		return
	}
	if tags == nil {
		tags = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tags": tags})
}

// changeTags adds (POST) or removes (DELETE) tags: {"tags":[...]}; the
// answer is the target's tags after the change.
func (a *API) changeTags(add bool) handler {
	return func(w http.ResponseWriter, r *http.Request, _ *keyState) {
		if a.noTags(w) {
			return
		}
		t, err := target(r)
		if err != nil {
			fail(w, err)
			return
		}
		var req struct {
			Tags []string `json:"tags"`
		}
		if err := decode(r, &req); err != nil {
			fail(w, err)
			return
		}
		if len(req.Tags) == 0 || len(req.Tags) > 100 {
			fail(w, badField("/tags", "1 to 100 tags"))
			return
		}
		if add {
			err = a.cfg.Tags.Add(r.Context(), t, req.Tags...)
		} else {
			err = a.cfg.Tags.Remove(r.Context(), t, req.Tags...)
		}
		switch {
		case errors.Is(err, offlinepush.ErrTagLimit):
			problem(w, http.StatusUnprocessableEntity, "tag-limit", "Tag limit", err.Error(), "/tags")
			return
		case errors.Is(err, offlinepush.ErrInvalid):
			fail(w, badField("/tags", err.Error()))
			return
		case err != nil:
			fail(w, err)
			return
		}
		a.getTags(w, r, nil)
	}
}

// listTags lists every tag with how many users and devices hold it.
func (a *API) listTags(w http.ResponseWriter, r *http.Request, _ *keyState) {
	if a.noTags(w) {
		return
	}
	type tagJSON struct {
		Tag     string `json:"tag"`
		Targets int    `json:"targets"`
	}
	out := []tagJSON{}
	for _, tc := range a.cfg.Tags.List() {
		out = append(out, tagJSON{tc.Tag, tc.Targets})
	}
	writeJSON(w, http.StatusOK, map[string]any{"tags": out})
}

func (a *API) noTags(w http.ResponseWriter) bool {
	if a.cfg.Tags == nil {
		problem(w, http.StatusNotImplemented, "not-implemented", "No tags here", "this server runs without the push layer's tags", "")
		return true
	}
	return false
}
