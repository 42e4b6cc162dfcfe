package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/offlinepush"
)

// Store is what the API needs of the message store (*history.Store).
type Store interface {
	Append(ctx context.Context, req history.AppendRequest) (history.Ack, error)
	MessageRefs(conv string, seq uint64) (*history.Message, []history.InboxRef, error)
	Devices(user string) ([]history.Device, error)
	Cursor(user, device string) (uint64, error)
	ReadMark(user, conv string) (uint64, error)
	SetDeviceState(ctx context.Context, user, device string, state history.DeviceState, unbindPush bool) error
	CreateGroup(ctx context.Context, req history.GroupRequest) (history.Ack, error)
	AddMembers(ctx context.Context, req history.GroupRequest) (history.Ack, error)
	RemoveMembers(ctx context.Context, req history.GroupRequest) (history.Ack, error)
	RenameGroup(ctx context.Context, req history.GroupRequest) (history.Ack, error)
	DeleteGroup(ctx context.Context, req history.GroupRequest) (history.Ack, error)
	Group(conv string) (*history.Group, error)
}

var _ Store = (*history.Store)(nil)

// apiDevice is the device id of everything the API sends.
const apiDevice = "api"

// maxUsers bounds the users of one POST /v1/messages.
const maxUsers = 1000

type messageRequest struct {
	To    string          `json:"to" schema:"ref=UserID" doc:"one user"`
	Users []string        `json:"users" schema:"ref=UserID,min=1,max=1000" doc:"1 to 1,000 users"`
	Group string          `json:"group" schema:"min=1" doc:"a group's conversation id, g:<id> (the store answers 404 for any other)"`
	From  string          `json:"from" schema:"ref=UserID" doc:"send on behalf of this user (required for a group: a member); default the system user @system"`
	Body  json.RawMessage `json:"body" schema:"required,type=object" doc:"the message, a JSON object of at most the server's max body (16 KiB by default)"`
}

// extendSchema says what the struct cannot: exactly one of to, users and
// group; from with group.
func (messageRequest) extendSchema(s map[string]any) {
	s["oneOf"] = []any{
		map[string]any{"required": []any{"to"}},
		map[string]any{"required": []any{"users"}},
		map[string]any{"required": []any{"group"}},
	}
	s["dependentRequired"] = map[string]any{"group": []any{"from"}}
}

// sentMessages is the answer of POST /v1/messages.
type sentMessages struct {
	Messages []sentMessage `json:"messages" doc:"one per recipient, one for a group"`
}

type sentMessage struct {
	User  string `json:"user,omitempty" doc:"the recipient; absent for a group"`
	MsgID uint64 `json:"msg_id"`
	Conv  string `json:"conv"`
	Seq   uint64 `json:"seq"`
}

// postMessages stores a message from the system (or on behalf of a user)
// to one user, a list of users, or a group. Everything is checked before
// anything is stored; a retry with the same Idempotency-Key stores nothing
// twice (each message's client id derives from it).
func (a *API) postMessages(w http.ResponseWriter, r *http.Request, k *keyState) {
	var req messageRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	targets := 0
	for _, set := range []bool{req.To != "", req.Users != nil, req.Group != ""} {
		if set {
			targets++
		}
	}
	if targets != 1 {
		fail(w, badField("/to", `name exactly one of "to", "users" and "group"`))
		return
	}
	users := req.Users
	if req.To != "" {
		users = []string{req.To}
	}
	if req.Group == "" && (len(users) == 0 || len(users) > maxUsers) {
		fail(w, badField("/users", "1 to 1,000 users"))
		return
	}
	for i, u := range users {
		if !chat.ValidID(u) || u[0] == '@' {
			field := "/users/" + strconv.Itoa(i)
			if req.To != "" {
				field = "/to"
			}
			fail(w, badField(field, "not a user id: 1-64 letters, digits or . _ - @, not starting with @"))
			return
		}
	}
	from := chat.SystemUser
	if req.From != "" {
		if !chat.ValidID(req.From) || req.From[0] == '@' {
			fail(w, badField("/from", "not a user id"))
			return
		}
		from = req.From
	}
	if req.Group != "" && req.From == "" {
		fail(w, badField("/from", "a group message is sent on behalf of a member: name it"))
		return
	}
	body := bytes.TrimSpace(req.Body)
	if len(body) == 0 || body[0] != '{' {
		fail(w, badField("/body", "a JSON object"))
		return
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		fail(w, badField("/body", "a JSON object"))
		return
	}
	if compact.Len() > a.cfg.MaxBody {
		fail(w, badField("/body", "at most "+strconv.Itoa(a.cfg.MaxBody)+" bytes"))
		return
	}
	base := clientBase(r)
	var out []sentMessage
	send := func(i int, req history.AppendRequest) error {
		req.From, req.Device, req.ClientID, req.Body = from, apiDevice, base+strconv.Itoa(i), compact.Bytes()
		ack, err := a.cfg.Store.Append(r.Context(), req)
		if err != nil {
			return err
		}
		out = append(out, sentMessage{User: req.To, MsgID: ack.ID, Conv: ack.Conv, Seq: ack.Seq})
		rec, _ := json.Marshal(sentRecord{Conv: ack.Conv, Seq: ack.Seq, Key: k.Name})
		return a.cfg.KV.Apply(context.WithoutCancel(r.Context()), offlinepush.Op{Key: sentKey(ack.ID), Value: rec})
	}
	var err error
	if req.Group != "" {
		err = send(0, history.AppendRequest{Conv: req.Group})
	} else {
		for i, u := range users {
			if err = send(i, history.AppendRequest{To: u}); err != nil {
				break
			}
		}
	}
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, sentMessages{Messages: out})
}

// clientBase is the prefix of the client ids of one request's messages:
// from its Idempotency-Key, so a retry finds what the first try stored,
// or unique.
func clientBase(r *http.Request) string {
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		sum := sha256.Sum256([]byte(k))
		return "api-" + hex.EncodeToString(sum[:12]) + "-"
	}
	var b [12]byte
	binary.BigEndian.PutUint64(b[:], uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint32(b[8:], clientSeq.Add(1))
	return "api-" + hex.EncodeToString(b[:]) + "-"
}

// clientSeq tells apart the client ids of requests made in the same
// nanosecond.
var clientSeq atomic.Uint32

// sentRecord is what the API keeps of a message it sent, for its report.
type sentRecord struct {
	Conv string `json:"conv"`
	Seq  uint64 `json:"seq"`
	Key  string `json:"key"`
}

func sentKey(id uint64) []byte { return binary.BigEndian.AppendUint64([]byte{'m'}, id) }

// storeProblem maps a store error to a status and problem code.
func storeProblem(err error) (int, string, string) {
	switch {
	case errors.Is(err, history.ErrNotFound):
		return http.StatusNotFound, "not-found", "No such conversation or message"
	case errors.Is(err, history.ErrForbidden):
		return http.StatusForbidden, "forbidden", "Not allowed: the sender is not a member"
	case errors.Is(err, history.ErrConflict):
		return http.StatusConflict, "conflict", "A client id was reused for a different message"
	case errors.Is(err, history.ErrTooMany):
		return http.StatusUnprocessableEntity, "too-many", "Over a limit: a group's size, or users per request"
	case errors.Is(err, history.ErrInvalid):
		return http.StatusBadRequest, "bad-request", "Invalid request"
	case errors.Is(err, history.ErrClosed), errors.Is(err, history.ErrFailed):
		return http.StatusServiceUnavailable, "unavailable", "The store is unavailable; retry with the same Idempotency-Key"
	}
	return http.StatusInternalServerError, "internal", "Internal error; retry with the same Idempotency-Key"
}
