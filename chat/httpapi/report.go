package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/offlinepush"
)

// idemRecord is the first answer to a request with an Idempotency-Key.
type idemRecord struct {
	Hash   [32]byte        `json:"hash"`
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

// keyLock serialises the requests of one idempotency key, so a retry that
// overtakes its first try waits for its answer; other keys go on.
type keyLock struct {
	mu    sync.Mutex
	users int // guarded by API.idemMu
}

// lockKey takes k's lock and returns its release.
func (a *API) lockKey(k string) func() {
	a.idemMu.Lock()
	l := a.idemLocks[k]
	if l == nil {
		l = &keyLock{}
		a.idemLocks[k] = l
	}
	l.users++
	a.idemMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		a.idemMu.Lock()
		if l.users--; l.users == 0 {
			delete(a.idemLocks, k)
		}
		a.idemMu.Unlock()
	}
}

// idempotent answers a retried request (same key, same Idempotency-Key,
// same body) with the first answer, and refuses the key with another body.
func (a *API) idempotent(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, k *keyState) {
		ik := r.Header.Get("Idempotency-Key")
		if ik == "" {
			h(w, r, k)
			return
		}
		if len(ik) > 255 {
			problem(w, http.StatusBadRequest, "bad-request", "Invalid Idempotency-Key", "at most 255 characters", "")
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
		if err != nil {
			fail(w, badField("", "the request body could not be read"))
			return
		}
		hash := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))
		dbKey := append([]byte("i"+k.Name+"\x00"), ik...)
		defer a.lockKey(string(dbKey))()
		if v, found, err := a.cfg.KV.Get(dbKey); err == nil && found {
			var rec idemRecord
			if json.Unmarshal(v, &rec) == nil {
				if rec.Hash != hash {
					problem(w, http.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency-Key reused", "this key was used for a different request", "")
					return
				}
				w.Header().Set("Idempotent-Replayed", "true")
				if rec.Status >= 400 {
					w.Header().Set("Content-Type", "application/problem+json") // every error is a problem
				} else {
					w.Header().Set("Content-Type", "application/json")
				}
				w.WriteHeader(rec.Status)
				w.Write(rec.Body)
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h(rec, r, k)
		for key, vals := range rec.Header() {
			w.Header()[key] = vals
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		if rec.Code < 500 && rec.Code != http.StatusTooManyRequests {
			v, _ := json.Marshal(idemRecord{Hash: hash, Status: rec.Code, Body: bytes.TrimSpace(rec.Body.Bytes())})
			a.cfg.KV.Apply(context.WithoutCancel(r.Context()), offlinepush.Op{Key: dbKey, Value: v})
		}
	}
}

// postToken mints a client token for a user.
func (a *API) postToken(w http.ResponseWriter, r *http.Request, k *keyState) {
	if a.cfg.Mint == nil {
		problem(w, http.StatusNotImplemented, "not-implemented", "Tokens are not minted here", "the server verifies tokens with a public key: sign them with its private key", "")
		return
	}
	var req tokenRequest
	if err := decode(r, &req); err != nil {
		fail(w, err)
		return
	}
	switch {
	case !chat.ValidID(req.User) || req.User[0] == '@':
		fail(w, badField("/user", "a user id: 1-64 letters, digits or . _ - @, not starting with @"))
		return
	case req.Device != "" && !chat.ValidID(req.Device):
		fail(w, badField("/device", "a device id"))
		return
	case req.Platform != "" && !chat.ValidID(req.Platform):
		fail(w, badField("/platform", "a platform name"))
		return
	case req.TTLSeconds < 0 || req.TTLSeconds > 30*24*3600:
		fail(w, badField("/ttl_seconds", "0 (a day) to 2,592,000 (30 days)"))
		return
	}
	ttl := 24 * time.Hour
	if req.TTLSeconds > 0 {
		ttl = time.Duration(req.TTLSeconds) * time.Second
	}
	tok, exp, err := a.cfg.Mint(req.User, req.Device, req.Platform, ttl)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, tokenResponse{Expires: exp.Unix(), Token: tok, User: req.User})
}

type tokenRequest struct {
	User       string `json:"user" schema:"required,ref=UserID"`
	Device     string `json:"device" schema:"ref=ID" doc:"binds the token to this device: it logs in only as it (an auth frame without a device takes this one)"`
	Platform   string `json:"platform" schema:"ref=ID" doc:"binds the token to this platform, as device does"`
	TTLSeconds int64  `json:"ttl_seconds" schema:"min=0,max=2592000" doc:"the token's lifetime; 0 or absent: a day"`
}

// tokenResponse is a minted token. Its fields are in the order of their
// names, as the map it replaced encoded them.
type tokenResponse struct {
	Expires int64  `json:"expires" doc:"Unix seconds"`
	Token   string `json:"token"`
	User    string `json:"user"`
}

// Report is what became of a message the API sent, now.
type Report struct {
	MsgID         uint64         `json:"msg_id"`
	Conv          string         `json:"conv"`
	Seq           uint64         `json:"seq"`
	Users         int            `json:"users" doc:"recipients targeted (the sender excluded)"`
	Devices       int            `json:"devices" doc:"their devices"`
	Delivered     int            `json:"delivered" doc:"devices that acked it over WebSocket (their cursor passed it)"`
	Read          int            `json:"read" doc:"users whose read mark passed it"`
	Pushed        map[string]int `json:"pushed" doc:"devices pushed, per vendor"`
	PushFailed    map[string]int `json:"push_failed" doc:"by reason"`
	NotPushed     map[string]int `json:"not_pushed" doc:"by reason"`
	TokensRemoved int            `json:"tokens_removed" doc:"invalid tokens the vendors reported"`
	Opened        int            `json:"opened" doc:"pushes the user opened"`
	Recipients    []userReport   `json:"recipients,omitempty" schema:"max=1000" doc:"each recipient and device, up to 1,000 users (maxListed)"`
}

type userReport struct {
	User    string         `json:"user"`
	Read    bool           `json:"read"`
	Devices []deviceReport `json:"devices" schema:"nullable" doc:"null for a user who never logged in"`
}

type deviceReport struct {
	Device    string `json:"device"`
	Delivered bool   `json:"delivered"`
	Push      string `json:"push,omitempty" doc:"the push outcome: its status, then the vendor or reason, e.g. \"pushed: fcm\""`
}

// maxListed bounds the recipients a report lists one by one.
const maxListed = 1000

// getReport reports on a message the API sent: computed now from the
// devices' cursors, read marks and push outcomes, so it can be asked
// again and again right after sending.
func (a *API) getReport(w http.ResponseWriter, r *http.Request, k *keyState) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		fail(w, badField("/id", "a message id"))
		return
	}
	v, found, err := a.cfg.KV.Get(sentKey(id))
	if err != nil {
		fail(w, err)
		return
	}
	if !found {
		problem(w, http.StatusNotFound, "not-found", "No such message", "no message with this id was sent through the API", "")
		return
	}
	var sent sentRecord
	if err := json.Unmarshal(v, &sent); err != nil {
		fail(w, err)
		return
	}
	m, refs, err := a.cfg.Store.MessageRefs(sent.Conv, sent.Seq)
	if err != nil {
		fail(w, err)
		return
	}
	rep := Report{MsgID: id, Conv: sent.Conv, Seq: sent.Seq, Pushed: map[string]int{}, PushFailed: map[string]int{}, NotPushed: map[string]int{}}
	outcomes := map[string]offlinepush.Outcome{}
	if a.cfg.Push != nil {
		os, err := a.cfg.Push.Outcomes(id)
		if err != nil {
			fail(w, err)
			return
		}
		for _, o := range os {
			outcomes[o.User+"\x00"+o.Device] = o
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].User < refs[j].User })
	for _, ref := range refs {
		if ref.User == m.From {
			continue
		}
		rep.Users++
		ur := userReport{User: ref.User}
		if mark, err := a.cfg.Store.ReadMark(ref.User, sent.Conv); err == nil && mark >= sent.Seq {
			ur.Read = true
			rep.Read++
		}
		devs, err := a.cfg.Store.Devices(ref.User)
		if err != nil {
			fail(w, err)
			return
		}
		for _, d := range devs {
			rep.Devices++
			dr := deviceReport{Device: d.ID}
			if cur, err := a.cfg.Store.Cursor(ref.User, d.ID); err == nil && cur >= ref.Pts {
				dr.Delivered = true
				rep.Delivered++
			}
			if o, ok := outcomes[ref.User+"\x00"+d.ID]; ok {
				dr.Push = o.Status
				switch o.Status {
				case offlinepush.StatusPushed:
					rep.Pushed[o.Vendor]++
					dr.Push += ": " + o.Vendor
				case offlinepush.StatusFailed:
					rep.PushFailed[o.Reason]++
					dr.Push += ": " + o.Reason
				case offlinepush.StatusNotPushed:
					rep.NotPushed[o.Reason]++
					dr.Push += ": " + o.Reason
				}
				if o.TokenRemoved {
					rep.TokensRemoved++
				}
				if o.Opened {
					rep.Opened++
				}
			}
			ur.Devices = append(ur.Devices, dr)
		}
		if len(rep.Recipients) < maxListed {
			rep.Recipients = append(rep.Recipients, ur)
		}
	}
	writeJSON(w, http.StatusOK, rep)
}
