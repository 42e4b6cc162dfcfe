package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/chat/httpapi"
	"github.com/loftchat/loft/offlinepush"
	"github.com/loftchat/loft/offlinepush/logvendor"
)

// devMode reports whether the server runs as `loft` with no arguments does:
// its HS256 secret generated in the data directory and no API keys. Only
// then does it serve the dev endpoints, which mint tokens for anyone.
func devMode(cfg config) bool {
	return cfg.JWTSecret == "" && cfg.JWTSecretFile == "" && cfg.JWTPublicKey == "" && cfg.APIKeys == ""
}

// Dev endpoint limits.
const (
	devTokenTTL    = 24 * time.Hour
	devInboxPerUsr = 200 // push inbox entries kept per user
	devInboxPage   = 500 // entries one GET returns at most
	devMaxBody     = 4 << 10
)

// devInbox keeps, in memory, the recent push outcomes of every user's
// devices, so the web demo shows what the push layer did without a phone.
type devInbox struct {
	log  *logvendor.Vendor // may be nil: no log vendor, no texts
	push *offlinepush.Service

	mu    sync.Mutex
	seq   uint64                     // guarded by mu: the last entry's seq
	users map[string][]devInboxEntry // guarded by mu: oldest first, at most devInboxPerUsr
}

// devInboxEntry is one recorded step of a push to one device.
type devInboxEntry struct {
	Seq    uint64 `json:"seq"`
	MsgID  string `json:"msg_id"` // a string: campaign ids are above 2^53
	Device string `json:"device"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	Vendor string `json:"vendor,omitempty"`
	Silent bool   `json:"silent,omitempty"`
	At     int64  `json:"at"`
	Conv   string `json:"conv,omitempty"`
	// What the log vendor sent, filled when the entry is read.
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
	Badge *int   `json:"badge,omitempty"`
}

func newDevInbox(vendors []offlinepush.Vendor) *devInbox {
	in := &devInbox{users: make(map[string][]devInboxEntry)}
	for _, v := range vendors {
		if b, ok := v.(*offlinepush.ByCredential); ok {
			v = b.Default // the demo's devices register with no credential
		}
		if lv, ok := v.(*logvendor.Vendor); ok {
			in.log = lv
		}
	}
	return in
}

// record is the push layer's OnOutcome: it must not block, and does not.
func (in *devInbox) record(o offlinepush.Outcome) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.seq++
	e := devInboxEntry{Seq: in.seq, MsgID: strconv.FormatUint(o.MsgID, 10), Conv: o.Conv, Device: o.Device, Status: o.Status,
		Reason: o.Reason, Vendor: o.Vendor, Silent: o.Silent, At: o.At}
	list := append(in.users[o.User], e)
	if len(list) >= 2*devInboxPerUsr {
		// Trimmed in halves, not per entry: a copy of the newest every
		// devInboxPerUsr outcomes, not on each one.
		list = append(list[:0:0], list[len(list)-devInboxPerUsr:]...)
	}
	in.users[o.User] = list
}

// entries returns user's entries after seq, with the texts the log vendor
// sent for the pushed ones.
func (in *devInbox) entries(user string, after uint64) []devInboxEntry {
	in.mu.Lock()
	var out []devInboxEntry
	list := in.users[user]
	for _, e := range list[max(0, len(list)-devInboxPerUsr):] {
		if e.Seq > after && len(out) < devInboxPage {
			out = append(out, e)
		}
	}
	in.mu.Unlock()
	if in.log == nil || in.push == nil {
		return out
	}
	tokens := make(map[string]string) // device -> its log token
	for _, b := range in.push.Bindings(user) {
		if b.Vendor == logvendor.Name {
			tokens[b.Device] = b.Token
		}
	}
	type sent struct{ msgID, token string }
	records := make(map[sent]logvendor.Record)
	for _, r := range in.log.All() {
		records[sent{r.Data["msg_id"], r.Token}] = r
	}
	for i := range out {
		e := &out[i]
		if e.Status != offlinepush.StatusPushed || e.Vendor != logvendor.Name {
			continue
		}
		if r, ok := records[sent{e.MsgID, tokens[e.Device]}]; ok {
			e.Title, e.Body, e.Badge = r.Title, r.Body, r.Badge
		}
	}
	return out
}

// devHandlers serves the dev endpoints:
//
//	POST /dev/token       {"user","device","platform"} -> {"token","user","device","expires_at"}
//	GET  /dev/push-inbox  ?after=SEQ, Authorization: Bearer <client token> -> {"entries","last"}
//
// Errors are problem details, as in the HTTP API.
func devHandlers(mux *http.ServeMux, mint httpapi.TokenMinter, auth chat.Authenticator, inbox *devInbox) {
	mux.HandleFunc("POST /dev/token", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			User     string `json:"user"`
			Device   string `json:"device"`
			Platform string `json:"platform"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, devMaxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			devProblem(w, http.StatusBadRequest, "bad_request", "The body is not a token request.", err.Error(), "")
			return
		}
		if req.Platform == "" {
			req.Platform = "web"
		}
		for _, f := range []struct{ name, v string }{{"/user", req.User}, {"/device", req.Device}, {"/platform", req.Platform}} {
			if !chat.ValidID(f.v) || strings.HasPrefix(f.v, "@") {
				devProblem(w, http.StatusBadRequest, "bad_field", "Invalid field.", "want 1-64 letters, digits or . _ - @, not starting with @", f.name)
				return
			}
		}
		tok, exp, err := mint(req.User, req.Device, req.Platform, devTokenTTL)
		if err != nil {
			devProblem(w, http.StatusInternalServerError, "internal", "The token could not be signed.", "", "")
			return
		}
		devJSON(w, map[string]string{"token": tok, "user": req.User, "device": req.Device, "expires_at": exp.UTC().Format(time.RFC3339)})
	})
	mux.HandleFunc("GET /dev/push-inbox", func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		claims, err := auth.Verify(tok)
		if !ok || err != nil {
			w.Header().Set("WWW-Authenticate", "Bearer")
			devProblem(w, http.StatusUnauthorized, "unauthorized", "A valid client token is required.", "send Authorization: Bearer <token from POST /dev/token>", "")
			return
		}
		var after uint64
		if s := r.URL.Query().Get("after"); s != "" {
			if after, err = strconv.ParseUint(s, 10, 64); err != nil {
				devProblem(w, http.StatusBadRequest, "bad_field", "Invalid field.", "after is a non-negative integer", "after")
				return
			}
		}
		entries := inbox.entries(claims.User, after)
		last := after
		if len(entries) > 0 {
			last = entries[len(entries)-1].Seq
		}
		if entries == nil {
			entries = []devInboxEntry{}
		}
		devJSON(w, map[string]any{"entries": entries, "last": last})
	})
}

func devJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

func devProblem(w http.ResponseWriter, status int, code, title, detail, field string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(httpapi.Problem{Type: "urn:loft:problem:" + code, Title: title, Status: status, Detail: detail, Field: field})
}
