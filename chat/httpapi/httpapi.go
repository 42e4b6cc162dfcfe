// Package httpapi is Loft's HTTP API for app backends: under /v1/, JSON in
// and out, authenticated by API keys with scopes, errors as RFC 9457
// problem details, Idempotency-Key on every POST, per-key rate limits.
// One route table (routes.go) registers every endpoint and writes the
// OpenAPI 3.1 document served at /v1/openapi.json (openapi.go).
//
// An API owns no goroutines; it is safe for concurrent use. Messages it
// stores go through the same store as the WebSocket's, so they are
// delivered live and pushed like any other.
package httpapi

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/offlinepush"
)

// Scope is what an API key may do.
type Scope string

// Scopes.
const (
	ScopeSend  Scope = "send"  // send messages, read their reports
	ScopePush  Scope = "push"  // send pushes
	ScopeAdmin Scope = "admin" // mint tokens, manage users, devices and groups
)

// Key is one API key.
type Key struct {
	Name   string  // shown in logs, never the secret
	Secret string  // what the backend sends as "Authorization: Bearer <secret>"
	Scopes []Scope // what it may do
	// Rate is the sustained requests per second the key may make, bursts of
	// twice that. Default 100.
	Rate float64
}

// TokenMinter signs client tokens for users.
type TokenMinter func(user, device, platform string, ttl time.Duration) (token string, expires time.Time, err error)

// Config configures an API. Keys, Store and KV are required.
type Config struct {
	Keys  []Key
	Store Store
	// KV keeps idempotency records and the messages the API sent, for
	// their reports.
	KV offlinepush.KV
	// Push, if set, answers for the push outcomes in reports.
	Push *offlinepush.Service
	// Tags, if set, serves the tag endpoints.
	Tags *offlinepush.Tags
	// Presence says which devices are online; Router carries kicks to
	// them. Both optional.
	Presence chat.Presence
	Router   chat.Router
	// Mint, if set, serves POST /v1/tokens.
	Mint TokenMinter
	// Ready reports whether the server accepts work, for /readyz.
	Ready func() bool
	// MaxBody is the largest message body in bytes, as on the WebSocket.
	// Default 16 KiB.
	MaxBody int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// API serves the HTTP API.
type API struct {
	cfg  Config
	keys []*keyState
	mux  *http.ServeMux
	doc  []byte // the OpenAPI document, built by New

	broadcastMu   sync.Mutex
	lastBroadcast time.Time // guarded by broadcastMu: the last push to everyone

	idemMu    sync.Mutex
	idemLocks map[string]*keyLock // guarded by idemMu: idempotency keys in use
}

type keyState struct {
	Key
	mu     sync.Mutex
	tokens float64   // guarded by mu
	last   time.Time // guarded by mu
}

// New validates cfg.
func New(cfg Config) (*API, error) {
	if cfg.Store == nil || cfg.KV == nil {
		return nil, errors.New("httpapi: Config.Store and Config.KV are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 16 << 10
	}
	a := &API{cfg: cfg, mux: http.NewServeMux(), idemLocks: make(map[string]*keyLock)}
	for _, k := range cfg.Keys {
		if len(k.Secret) < 16 {
			return nil, fmt.Errorf("httpapi: key %q: a secret is at least 16 bytes", k.Name)
		}
		for _, s := range k.Scopes {
			if s != ScopeSend && s != ScopePush && s != ScopeAdmin {
				return nil, fmt.Errorf("httpapi: key %q: unknown scope %q", k.Name, s)
			}
		}
		if k.Rate <= 0 {
			k.Rate = 100
		}
		a.keys = append(a.keys, &keyState{Key: k, tokens: 2 * k.Rate})
	}
	routes := a.routes()
	doc, err := openAPI(routes)
	if err != nil {
		return nil, err
	}
	a.doc = doc
	a.mount(routes)
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// handler is an endpoint behind auth: it gets the key that called.
type handler func(w http.ResponseWriter, r *http.Request, k *keyState)

// auth checks the Bearer key, its scope and its rate.
func (a *API) auth(scope Scope, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || secret == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="loft"`)
			problem(w, http.StatusUnauthorized, "unauthorized", "Missing API key", `send "Authorization: Bearer <API key>"`, "")
			return
		}
		var key *keyState
		for _, k := range a.keys {
			if subtle.ConstantTimeCompare([]byte(k.Secret), []byte(secret)) == 1 {
				key = k
			}
		}
		if key == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="loft", error="invalid_token"`)
			problem(w, http.StatusUnauthorized, "unauthorized", "Unknown API key", "no configured key has this secret", "")
			return
		}
		allowed := false
		for _, s := range key.Scopes {
			allowed = allowed || s == scope
		}
		if !allowed {
			problem(w, http.StatusForbidden, "forbidden", "Missing scope", fmt.Sprintf("key %q lacks the %q scope", key.Name, scope), "")
			return
		}
		if wait := key.take(a.cfg.Now()); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			problem(w, http.StatusTooManyRequests, "rate-limited", "Too many requests", fmt.Sprintf("key %q may make %g requests per second", key.Name, key.Rate), "")
			return
		}
		h(w, r, key)
	})
}

// take spends one request of the key's bucket, or says how long to wait.
func (k *keyState) take(now time.Time) time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.last.IsZero() {
		k.tokens = min(2*k.Rate, k.tokens+now.Sub(k.last).Seconds()*k.Rate)
	}
	k.last = now
	if k.tokens < 1 {
		return time.Duration((1 - k.tokens) / k.Rate * float64(time.Second))
	}
	k.tokens--
	return 0
}

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type   string `json:"type" doc:"urn:loft:problem: and the problem's code"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Field  string `json:"field,omitempty" doc:"the offending field, as a JSON pointer"`
}

// problemType is the type URI of a problem code.
func problemType(code string) string { return "urn:loft:problem:" + code }

func problem(w http.ResponseWriter, status int, code, title, detail, field string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(Problem{Type: problemType(code), Title: title, Status: status, Detail: detail, Field: field})
}

// fieldError is a 400 naming the field.
type fieldError struct {
	field, detail string
}

func (e *fieldError) Error() string { return e.field + ": " + e.detail }

func badField(field, detail string) error { return &fieldError{field, detail} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// maxRequest bounds a request body.
const maxRequest = 1 << 20

// decode reads a JSON request strictly: unknown fields, wrong types and
// trailing data are 400s naming the field. v must be a pointer to the
// type the route documents (routes.go); anything else is an internal
// error, a bug to fix.
func decode(r *http.Request, v any) error {
	if rb, ok := r.Context().Value(bodyKey{}).(routeBody); ok && (rb.t == nil || reflect.TypeOf(v) != reflect.PointerTo(rb.t)) {
		return fmt.Errorf("httpapi: %s %s decodes a %T, its route documents %v", r.Method, r.URL.Path, v, rb.t)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err != nil {
		return badField("", "the request body could not be read")
	}
	if len(body) > maxRequest {
		return badField("", "the request body is over 1 MiB")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &ute):
			return badField("/"+strings.ReplaceAll(ute.Field, ".", "/"), "has the wrong type: want "+ute.Type.String())
		case errors.As(err, &se):
			return badField("", "not valid JSON at byte "+strconv.FormatInt(se.Offset, 10))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
			return badField("/"+name, "unknown field")
		default:
			return badField("", "the body must be one JSON object")
		}
	}
	if dec.More() {
		return badField("", "the body must be one JSON object")
	}
	return nil
}

// fail writes err as a problem.
func fail(w http.ResponseWriter, err error) {
	var fe *fieldError
	if errors.As(err, &fe) {
		problem(w, http.StatusBadRequest, "bad-request", "Invalid request", fe.detail, fe.field)
		return
	}
	status, code, title := storeProblem(err)
	detail := ""
	if status < 500 {
		detail = strings.TrimPrefix(err.Error(), "history: ") // names values, never internals
	}
	problem(w, status, code, title, detail, "")
}
