package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
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
	Users(after string, limit int) ([]string, error)
}

var _ Store = (*history.Store)(nil)

// apiDevice is the device id of everything the API sends.
const apiDevice = "api"

// Recipient limits of one POST /v1/messages: users lists at most
// maxUsers; tags and all reach at most maxAudience users.
const (
	maxUsers    = 1000
	maxAudience = 100_000
	sendWorkers = 32 // messages stored at once: the store commits them together
)

type messageRequest struct {
	To    string          `json:"to" schema:"ref=UserID" doc:"one user"`
	Users []string        `json:"users" schema:"ref=UserID,min=1,max=1000" doc:"1 to 1,000 users"`
	Group string          `json:"group" schema:"min=1" doc:"a group's conversation id, g:<id> (the store answers 404 for any other)"`
	Tags  string          `json:"tags" schema:"min=1" doc:"every user whose tags, or one of whose devices' tags, match this expression (tags, AND, OR, NOT, parentheses); at most 100,000 users"`
	All   bool            `json:"all" doc:"true: every user that has ever logged in; at most 100,000 users"`
	From  string          `json:"from" schema:"ref=UserID" doc:"send on behalf of this user (required for a group: a member); default the system user @system"`
	Body  json.RawMessage `json:"body" schema:"required,type=object" doc:"the message, a JSON object of at most the server's max body (16 KiB by default)"`
}

// extendSchema says what the struct cannot: exactly one of to, users,
// group, tags and all (all only counts when true); from with group.
func (messageRequest) extendSchema(s map[string]any) {
	s["oneOf"] = []any{
		map[string]any{"required": []any{"to"}},
		map[string]any{"required": []any{"users"}},
		map[string]any{"required": []any{"group"}},
		map[string]any{"required": []any{"tags"}},
		map[string]any{"required": []any{"all"}, "properties": map[string]any{"all": map[string]any{"const": true}}},
	}
	s["dependentRequired"] = map[string]any{"group": []any{"from"}}
}

// sentMessages is the answer of POST /v1/messages.
type sentMessages struct {
	Messages []sentMessage `json:"messages" doc:"one per recipient in the order of users (by user id for tags and all), one for a group; none when tags or all reach nobody"`
}

type sentMessage struct {
	User  string `json:"user,omitempty" doc:"the recipient; absent for a group"`
	MsgID uint64 `json:"msg_id"`
	Conv  string `json:"conv"`
	Seq   uint64 `json:"seq"`
}

// postMessages stores a message from the system (or on behalf of a user)
// to one user, a list of users, a group, the users a tag expression
// selects, or every user. Everything is checked before anything is stored;
// a retry with the same Idempotency-Key stores nothing twice (each
// message's client id derives from it and the recipient).
func (a *API) postMessages(w http.ResponseWriter, r *http.Request, k *keyState) {
	var req messageRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	targets := 0
	for _, set := range []bool{req.To != "", req.Users != nil, req.Group != "", req.Tags != "", req.All} {
		if set {
			targets++
		}
	}
	if targets != 1 {
		fail(w, badField("/to", `name exactly one of "to", "users", "group", "tags" and "all"`))
		return
	}
	users := req.Users
	if req.To != "" {
		users = []string{req.To}
	}
	if req.Users != nil && (len(users) == 0 || len(users) > maxUsers) {
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
	var err error
	switch {
	case req.Tags != "":
		users, err = a.taggedUsers(req.Tags)
	case req.All:
		users, err = a.everyone()
	}
	if err != nil {
		fail(w, err)
		return
	}
	if req.Tags != "" || req.All {
		users = slices.DeleteFunc(users, func(u string) bool { return u == req.From }) // a sender on behalf of a user skips that user
	}

	base := clientBase(r)
	send := func(req history.AppendRequest) (sentMessage, error) {
		req.From, req.Device, req.Body = from, apiDevice, compact.Bytes()
		req.ClientID = base + recipientID(req.To+req.Conv)
		ack, err := a.cfg.Store.Append(r.Context(), req)
		if err != nil {
			return sentMessage{}, err
		}
		rec, _ := json.Marshal(sentRecord{Conv: ack.Conv, Seq: ack.Seq, Key: k.Name})
		err = a.cfg.KV.Apply(context.WithoutCancel(r.Context()), offlinepush.Op{Key: sentKey(ack.ID), Value: rec})
		return sentMessage{User: req.To, MsgID: ack.ID, Conv: ack.Conv, Seq: ack.Seq}, err
	}
	var out []sentMessage
	if req.Group != "" {
		var m sentMessage
		m, err = send(history.AppendRequest{Conv: req.Group})
		out = []sentMessage{m}
	} else {
		out, err = sendEach(users, func(u string) (sentMessage, error) { return send(history.AppendRequest{To: u}) })
	}
	if err != nil {
		fail(w, err)
		return
	}
	if out == nil {
		out = []sentMessage{}
	}
	writeJSON(w, http.StatusCreated, sentMessages{Messages: out})
}

// sendEach sends to every user, sendWorkers at a time (one at a time, each
// waits for its fsync; together, they share it), and returns the answers
// in the order of users, or the first error.
func sendEach(users []string, send func(string) (sentMessage, error)) ([]sentMessage, error) {
	out := make([]sentMessage, len(users))
	errs := make([]error, len(users))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(sendWorkers, len(users)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = send(users[i])
			}
		}()
	}
	for i := range users {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, errors.Join(slices.DeleteFunc(errs, func(e error) bool { return e == nil })...)
}

// taggedUsers resolves a tag expression to the users it selects, by their
// own tags or a device's, in id order.
func (a *API) taggedUsers(expr string) ([]string, error) {
	if a.cfg.Tags == nil {
		return nil, badField("/tags", "this server has no tags")
	}
	e, err := offlinepush.ParseExpr(expr)
	if err != nil {
		return nil, badField("/tags", err.Error())
	}
	seen := make(map[string]bool)
	err = a.cfg.Tags.Match(e, func(t offlinepush.Target) error {
		if !seen[t.User] && len(seen) == maxAudience {
			return errTooMany
		}
		seen[t.User] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	users := slices.Sorted(maps.Keys(seen))
	return slices.DeleteFunc(users, func(u string) bool { return u[0] == '@' }), nil
}

// everyone returns every user that has logged in, in id order.
func (a *API) everyone() ([]string, error) {
	var users []string
	after := ""
	for {
		page, err := a.cfg.Store.Users(after, 1000)
		if err != nil {
			return nil, err
		}
		for _, u := range page {
			if u[0] != '@' {
				users = append(users, u)
			}
		}
		if len(users) > maxAudience {
			return nil, errTooMany
		}
		if len(page) < 1000 {
			return users, nil
		}
		after = page[len(page)-1]
	}
}

// errTooMany: tags or all reach more than maxAudience users.
var errTooMany = fmt.Errorf("%w: more than 100,000 recipients; narrow the tags or send to users in pages", history.ErrTooMany)

// recipientID is a short stable id of a recipient, for client ids that
// must fit 64 bytes with any user id.
func recipientID(to string) string {
	sum := sha256.Sum256([]byte(to))
	return hex.EncodeToString(sum[:8])
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
