package httpapi

import (
	"context"
	"net/http"
	"reflect"
)

// route is one endpoint. The table of routes is the single source of
// truth: it registers the handlers on the mux and it writes the OpenAPI
// document, so neither can list an endpoint the other lacks.
type route struct {
	method, path string
	op           string // the OpenAPI operationId, unique
	tag          string // the OpenAPI tag that groups it
	summary      string
	scope        Scope // the scope its key needs; "" for no key
	idempotent   bool  // honours Idempotency-Key (every POST)
	// body is the type the handler decodes (strictly) from the request
	// body, or nil if it reads none.
	body reflect.Type
	// status is the success status; result its body's type, nil for none.
	status int
	result reflect.Type
	// errors are the error statuses the handler itself answers; those of
	// auth (401, 403, 429, 500, 503) and of idempotency (400, 422) are
	// added from scope and idempotent.
	errors []int
	serve  handler
}

func typ[T any]() reflect.Type { return reflect.TypeFor[T]() }

// routes is the table of every endpoint.
func (a *API) routes() []route {
	public := func(h http.HandlerFunc) handler {
		return func(w http.ResponseWriter, r *http.Request, _ *keyState) { h(w, r) }
	}
	return []route{
		{method: "GET", path: "/healthz", op: "health", tag: "health", summary: "Whether the process runs.",
			status: 200, result: typ[healthStatus](), serve: public(a.healthz)},
		{method: "GET", path: "/readyz", op: "ready", tag: "health", summary: "Whether the server accepts work: 503 while it starts or shuts down.",
			status: 200, result: typ[healthStatus](), errors: []int{503}, serve: public(a.readyz)},
		{method: "GET", path: "/v1/openapi.json", op: "openapi", tag: "meta", summary: "This OpenAPI 3.1 document.",
			status: 200, result: typ[openAPIDocument](), serve: public(a.serveOpenAPI)},

		{method: "POST", path: "/v1/tokens", op: "createToken", tag: "tokens", scope: ScopeAdmin, idempotent: true,
			summary: "Mint a client token (JWT) for a user, optionally bound to a device and platform. A retry with the same Idempotency-Key returns the same token.",
			body:    typ[tokenRequest](), status: 201, result: typ[tokenResponse](), errors: []int{400, 501}, serve: a.postToken},

		{method: "POST", path: "/v1/messages", op: "sendMessages", tag: "messages", scope: ScopeSend, idempotent: true,
			summary: "Send a message from the system, or on behalf of a user, to one user, up to 1,000 users, a group, the users a tag expression selects, or everyone.",
			body:    typ[messageRequest](), status: 201, result: typ[sentMessages](), errors: []int{400, 403, 404, 409, 422}, serve: a.postMessages},
		{method: "GET", path: "/v1/messages/{id}/report", op: "getMessageReport", tag: "messages", scope: ScopeSend,
			summary: "What became of a message the API sent, computed now.",
			status:  200, result: typ[Report](), errors: []int{400, 404}, serve: a.getReport},

		{method: "GET", path: "/v1/users/{user}/tags", op: "getUserTags", tag: "tags", scope: ScopePush,
			summary: "A user's tags.",
			status:  200, result: typ[tagsResponse](), errors: []int{400, 501}, serve: a.getTags},
		{method: "POST", path: "/v1/users/{user}/tags", op: "addUserTags", tag: "tags", scope: ScopePush, idempotent: true,
			summary: "Add tags to a user; the answer is its tags after the change.",
			body:    typ[tagsRequest](), status: 200, result: typ[tagsResponse](), errors: []int{400, 422, 501}, serve: a.changeTags(true)},
		{method: "DELETE", path: "/v1/users/{user}/tags", op: "removeUserTags", tag: "tags", scope: ScopePush,
			summary: "Remove tags from a user; the answer is its tags after the change.",
			body:    typ[tagsRequest](), status: 200, result: typ[tagsResponse](), errors: []int{400, 501}, serve: a.changeTags(false)},
		{method: "GET", path: "/v1/users/{user}/devices/{device}/tags", op: "getDeviceTags", tag: "tags", scope: ScopePush,
			summary: "A device's own tags (its user's apply to it too).",
			status:  200, result: typ[tagsResponse](), errors: []int{400, 501}, serve: a.getTags},
		{method: "POST", path: "/v1/users/{user}/devices/{device}/tags", op: "addDeviceTags", tag: "tags", scope: ScopePush, idempotent: true,
			summary: "Add tags to a device; the answer is its tags after the change.",
			body:    typ[tagsRequest](), status: 200, result: typ[tagsResponse](), errors: []int{400, 422, 501}, serve: a.changeTags(true)},
		{method: "DELETE", path: "/v1/users/{user}/devices/{device}/tags", op: "removeDeviceTags", tag: "tags", scope: ScopePush,
			summary: "Remove tags from a device; the answer is its tags after the change.",
			body:    typ[tagsRequest](), status: 200, result: typ[tagsResponse](), errors: []int{400, 501}, serve: a.changeTags(false)},
		{method: "GET", path: "/v1/tags", op: "listTags", tag: "tags", scope: ScopePush,
			summary: "Every tag, with how many users and devices hold it.",
			status:  200, result: typ[tagList](), errors: []int{501}, serve: a.listTags},

		{method: "GET", path: "/v1/users/{user}", op: "getUser", tag: "users", scope: ScopeAdmin,
			summary: "A user's presence and devices.",
			status:  200, result: typ[userResponse](), errors: []int{400}, serve: a.getUser},
		{method: "POST", path: "/v1/users/{user}/devices/{device}/kick", op: "kickDevice", tag: "users", scope: ScopeAdmin, idempotent: true,
			summary: "End a device's session (close code 4006, reason kicked_by_backend), record it as kicked, and remove its push tokens if asked.",
			body:    typ[kickRequest](), status: 200, result: typ[kickResponse](), errors: []int{400, 404}, serve: a.kick},
		{method: "POST", path: "/v1/users/{user}/devices/{device}/push-token", op: "registerPushToken", tag: "users", scope: ScopeAdmin, idempotent: true,
			summary: "Register a push token on behalf of a device; the last bind of a token wins.",
			body:    typ[pushTokenRequest](), status: 200, result: typ[pushTokenResponse](), errors: []int{400, 501}, serve: a.putToken},
		{method: "DELETE", path: "/v1/users/{user}/devices/{device}/push-token", op: "removePushTokens", tag: "users", scope: ScopeAdmin,
			summary: "Remove a device's push tokens.",
			status:  204, errors: []int{400, 501}, serve: a.deleteToken},

		{method: "POST", path: "/v1/groups", op: "createGroup", tag: "groups", scope: ScopeAdmin, idempotent: true,
			summary: "Create a group, owned by a user or by the backend.",
			body:    typ[createGroupRequest](), status: 201, result: typ[groupResponse](), errors: []int{400, 403, 404, 409, 422}, serve: a.createGroup},
		{method: "GET", path: "/v1/groups/{group}", op: "getGroup", tag: "groups", scope: ScopeAdmin,
			summary: "A group and its members.",
			status:  200, result: typ[groupResponse](), errors: []int{400, 404}, serve: a.getGroup},
		{method: "POST", path: "/v1/groups/{group}/members", op: "addMembers", tag: "groups", scope: ScopeAdmin, idempotent: true,
			summary: "Add members; the answer is the group after the change.",
			body:    typ[membersRequest](), status: 200, result: typ[groupResponse](), errors: []int{400, 403, 404, 409, 422}, serve: a.changeMembers(true)},
		{method: "DELETE", path: "/v1/groups/{group}/members", op: "removeMembers", tag: "groups", scope: ScopeAdmin,
			summary: "Remove members; the answer is the group after the change.",
			body:    typ[membersRequest](), status: 200, result: typ[groupResponse](), errors: []int{400, 403, 404, 409, 422}, serve: a.changeMembers(false)},
		{method: "POST", path: "/v1/groups/{group}/name", op: "renameGroup", tag: "groups", scope: ScopeAdmin, idempotent: true,
			summary: "Rename a group; the answer is the group after the change.",
			body:    typ[renameRequest](), status: 200, result: typ[groupResponse](), errors: []int{400, 403, 404, 409}, serve: a.renameGroup},
		{method: "DELETE", path: "/v1/groups/{group}", op: "deleteGroup", tag: "groups", scope: ScopeAdmin,
			summary: "End a group: its members get a deleted event and keep what they could read.",
			status:  204, errors: []int{400, 403, 404, 409}, serve: a.deleteGroup},

		{method: "POST", path: "/v1/pushes", op: "sendPush", tag: "pushes", scope: ScopePush, idempotent: true,
			summary: "Send, or schedule, a notification (not a chat message) to users, devices, a tag expression or every device. A push to all is allowed at most every 3 s (429).",
			body:    typ[pushRequest](), status: 201, result: typ[pushCreated](), errors: []int{400, 501}, serve: a.postPush},
		{method: "DELETE", path: "/v1/pushes/{id}", op: "cancelPush", tag: "pushes", scope: ScopePush,
			summary: "Cancel a push whose send_at has not come (409 started after).",
			status:  204, errors: []int{400, 404, 409, 501}, serve: a.deletePush},
		{method: "GET", path: "/v1/pushes/{id}/report", op: "getPushReport", tag: "pushes", scope: ScopePush,
			summary: "What became of a push on its devices, counted now.",
			status:  200, result: typ[pushReport](), errors: []int{400, 404, 501}, serve: a.pushReport},
	}
}

// mount registers every route, behind its key check and idempotency, and
// the problem every other /v1/ path answers.
func (a *API) mount(routes []route) {
	for _, rt := range routes {
		h := declareBody(rt.body, rt.serve)
		if rt.idempotent {
			h = a.idempotent(h)
		}
		pattern := rt.method + " " + rt.path
		if rt.scope == "" {
			a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { h(w, r, nil) })
			continue
		}
		a.mux.Handle(pattern, a.auth(rt.scope, h))
	}
	a.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		problem(w, http.StatusNotFound, "not-found", "No such endpoint", r.Method+" "+r.URL.Path+" is not part of the API", "")
	})
}

// bodyKey is the context key of a request's routeBody.
type bodyKey struct{}

// routeBody is the type a route documents as its request body; decode
// refuses to decode into any other, so the document cannot drift from
// what a handler decodes.
type routeBody struct{ t reflect.Type }

func declareBody(t reflect.Type, h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, k *keyState) {
		h(w, r.WithContext(context.WithValue(r.Context(), bodyKey{}, routeBody{t})), k)
	}
}

// healthStatus is the answer of /healthz and /readyz.
type healthStatus struct {
	Status string `json:"status" schema:"enum=ok|ready" doc:"ok from /healthz, ready from /readyz"`
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, healthStatus{Status: "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Ready != nil && !a.cfg.Ready() {
		problem(w, http.StatusServiceUnavailable, "unavailable", "Not ready", "the server is starting or shutting down", "")
		return
	}
	writeJSON(w, http.StatusOK, healthStatus{Status: "ready"})
}
