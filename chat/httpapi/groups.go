package httpapi

import (
	"net/http"
	"strings"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/history"
)

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

type createGroupRequest struct {
	ID      string   `json:"id" schema:"ref=ID" doc:"the group id, without g:; absent: the server picks one"`
	Name    string   `json:"name" schema:"required,min=1,max=128" doc:"1-128 bytes"`
	Owner   string   `json:"owner" schema:"ref=UserID" doc:"the owning user; absent: the backend owns it"`
	Members []string `json:"members" schema:"ref=UserID,max=1000"`
}

// extendSchema says what the struct cannot: an owner or a member.
func (createGroupRequest) extendSchema(s map[string]any) {
	s["anyOf"] = []any{
		map[string]any{"required": []any{"owner"}},
		map[string]any{"required": []any{"members"}, "properties": map[string]any{"members": map[string]any{"minItems": 1}}},
	}
}

func (a *API) createGroup(w http.ResponseWriter, r *http.Request, _ *keyState) {
	var req createGroupRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	if err := checkUsers("/members", req.Members); err != nil {
		fail(w, err)
		return
	}
	if req.Owner == "" && len(req.Members) == 0 {
		// The store keeps no group of nobody: it would read as deleted.
		fail(w, badField("/members", "a group without an owner needs at least one member"))
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
	members := make([]groupMember, 0, g.Len())
	for _, m := range g.Members() {
		members = append(members, groupMember{m.User, string(m.Role)})
	}
	writeJSON(w, status, groupResponse{Group: g.Conv, Members: members, Name: g.Name, Owner: g.Owner()})
}

// groupResponse is a group. Its fields are in the order of their names,
// as the map it replaced encoded them.
type groupResponse struct {
	Group   string        `json:"group" schema:"ref=GroupConv"`
	Members []groupMember `json:"members"`
	Name    string        `json:"name"`
	Owner   string        `json:"owner" doc:"the owning user; empty for a group the backend owns"`
}

type groupMember struct {
	User string `json:"user"`
	Role string `json:"role" schema:"enum=owner|admin|member"`
}

type membersRequest struct {
	Users []string `json:"users" schema:"required,ref=UserID,min=1,max=1000"`
}

type renameRequest struct {
	Name string `json:"name" schema:"required,min=1,max=128" doc:"1-128 bytes"`
}

// changeMembers adds (POST) or removes (DELETE) members: {"users":[...]}.
func (a *API) changeMembers(add bool) handler {
	return func(w http.ResponseWriter, r *http.Request, _ *keyState) {
		conv, err := groupConv(r)
		if err != nil {
			fail(w, err)
			return
		}
		var req membersRequest
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
	var req renameRequest
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
