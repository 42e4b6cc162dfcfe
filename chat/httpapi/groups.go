package httpapi

import (
	"net/http"
	"strings"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/history"
)

func (a *API) groupRoutes() {
	a.mux.Handle("POST /v1/groups", a.auth(ScopeAdmin, a.idempotent(a.createGroup)))
	a.mux.Handle("GET /v1/groups/{group}", a.auth(ScopeAdmin, a.getGroup))
	a.mux.Handle("POST /v1/groups/{group}/members", a.auth(ScopeAdmin, a.idempotent(a.changeMembers(true))))
	a.mux.Handle("DELETE /v1/groups/{group}/members", a.auth(ScopeAdmin, a.changeMembers(false)))
	a.mux.Handle("POST /v1/groups/{group}/name", a.auth(ScopeAdmin, a.idempotent(a.renameGroup)))
	a.mux.Handle("DELETE /v1/groups/{group}", a.auth(ScopeAdmin, a.deleteGroup))
}

// deleteGroup ends a group: its members get a "deleted" event and are
// removed; what they had stays theirs to read.
func (a *API) deleteGroup(w http.ResponseWriter, r *http.Request, _ *keyState) {
	conv, err := groupConv(r)
	if err != nil {
		fail(w, err)
		return
	}
	if _, err := a.cfg.Store.DeleteGroup(r.Context(), systemChange(conv)); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// groupConv reads the group id of a path: "g:<id>" or the bare id.
func groupConv(r *http.Request) (string, error) {
	id := strings.TrimPrefix(r.PathValue("group"), "g:")
	if !chat.ValidID(id) {
		return "", badField("/group", "a group id")
	}
	return "g:" + id, nil
}

// systemChange is a group change by the system (the backend), which may
// do anything; a retry is made safe by the Idempotency-Key's replay.
func systemChange(conv string) history.GroupRequest {
	return history.GroupRequest{Conv: conv}
}

func (a *API) createGroup(w http.ResponseWriter, r *http.Request, _ *keyState) {
	var req struct {
		ID      string   `json:"id"`
		Name    string   `json:"name"`
		Owner   string   `json:"owner"`
		Members []string `json:"members"`
	}
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	if err := checkUsers("/members", req.Members); err != nil {
		fail(w, err)
		return
	}
	g := history.GroupRequest{Name: req.Name, Users: req.Members}
	if req.ID != "" {
		if !chat.ValidID(req.ID) {
			fail(w, badField("/id", "a group id: 1-64 letters, digits or . _ - @"))
			return
		}
		g.Conv = "g:" + req.ID
	}
	if req.Owner != "" {
		if !chat.ValidID(req.Owner) || req.Owner[0] == '@' {
			fail(w, badField("/owner", "a user id"))
			return
		}
		// The owner creates it, so it owns it; the client id makes a retry
		// find the first group.
		g.From, g.Device, g.ClientID = req.Owner, apiDevice, clientBase(r)+"g"
	}
	if g.Name == "" || len(g.Name) > 128 {
		fail(w, badField("/name", "1-128 bytes"))
		return
	}
	ack, err := a.cfg.Store.CreateGroup(r.Context(), g)
	if err != nil {
		fail(w, err)
		return
	}
	a.writeGroup(w, http.StatusCreated, ack.Conv)
}

func (a *API) getGroup(w http.ResponseWriter, r *http.Request, _ *keyState) {
	conv, err := groupConv(r)
	if err != nil {
		fail(w, err)
		return
	}
	a.writeGroup(w, http.StatusOK, conv)
}

func (a *API) writeGroup(w http.ResponseWriter, status int, conv string) {
	g, err := a.cfg.Store.Group(conv)
	if err == nil && g.Len() == 0 {
		err = history.ErrNotFound // deleted
	}
	if err != nil {
		fail(w, err)
		return
	}
	type memberJSON struct {
		User string `json:"user"`
		Role string `json:"role"`
	}
	members := make([]memberJSON, 0, g.Len())
	for _, m := range g.Members() {
		members = append(members, memberJSON{m.User, string(m.Role)})
	}
	writeJSON(w, status, map[string]any{"group": g.Conv, "name": g.Name, "owner": g.Owner(), "members": members})
}

// changeMembers adds (POST) or removes (DELETE) members: {"users":[...]}.
func (a *API) changeMembers(add bool) handler {
	return func(w http.ResponseWriter, r *http.Request, _ *keyState) {
		conv, err := groupConv(r)
		if err != nil {
			fail(w, err)
			return
		}
		var req struct {
			Users []string `json:"users"`
		}
		if err := decode(r, &req); err != nil {
			fail(w, err)
			return
		}
		if len(req.Users) == 0 {
			fail(w, badField("/users", "1 to 1,000 users"))
			return
		}
		if err := checkUsers("/users", req.Users); err != nil {
			fail(w, err)
			return
		}
		g := systemChange(conv)
		g.Users = req.Users
		if add {
			_, err = a.cfg.Store.AddMembers(r.Context(), g)
		} else {
			_, err = a.cfg.Store.RemoveMembers(r.Context(), g)
		}
		if err != nil {
			fail(w, err)
			return
		}
		a.writeGroup(w, http.StatusOK, conv)
	}
}

func (a *API) renameGroup(w http.ResponseWriter, r *http.Request, _ *keyState) {
	conv, err := groupConv(r)
	if err != nil {
		fail(w, err)
		return
	}
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	if req.Name == "" || len(req.Name) > 128 {
		fail(w, badField("/name", "1-128 bytes"))
		return
	}
	g := systemChange(conv)
	g.Name = req.Name
	if _, err := a.cfg.Store.RenameGroup(r.Context(), g); err != nil {
		fail(w, err)
		return
	}
	a.writeGroup(w, http.StatusOK, conv)
}

func checkUsers(field string, users []string) error {
	if len(users) > maxUsers {
		return badField(field, "at most 1,000 users")
	}
	for _, u := range users {
		if !chat.ValidID(u) || u[0] == '@' {
			return badField(field, "not a user id: "+u)
		}
	}
	return nil
}
