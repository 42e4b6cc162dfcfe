package httpapi

import (
	"errors"
	"net/http"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/offlinepush"
)

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
	writeJSON(w, http.StatusOK, tagsResponse{Tags: tags})
}

type tagsRequest struct {
	Tags []string `json:"tags" schema:"required,ref=Tag,min=1,max=100"`
}

// tagsResponse is a target's tags.
type tagsResponse struct {
	Tags []string `json:"tags" schema:"ref=Tag"`
}

// tagList is every tag, with how many users and devices hold it.
type tagList struct {
	Tags []tagCount `json:"tags"`
}

type tagCount struct {
	Tag     string `json:"tag" schema:"ref=Tag"`
	Targets int    `json:"targets" doc:"users and devices holding it"`
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
		var req tagsRequest
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
	out := []tagCount{}
	for _, tc := range a.cfg.Tags.List() {
		out = append(out, tagCount{tc.Tag, tc.Targets})
	}
	writeJSON(w, http.StatusOK, tagList{Tags: out})
}

func (a *API) noTags(w http.ResponseWriter) bool {
	if a.cfg.Tags == nil {
		problem(w, http.StatusNotImplemented, "not-implemented", "No tags here", "this server runs without the push layer's tags", "")
		return true
	}
	return false
}
