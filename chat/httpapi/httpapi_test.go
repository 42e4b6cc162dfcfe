package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/offlinepush"
	"github.com/loftchat/loft/offlinepush/logvendor"
	"github.com/loftchat/loft/presence"
)

var secret = []byte("httpapi-test-secret-0123456789abcdef")

const (
	sendKey  = "send-key-0123456789"
	adminKey = "admin-key-0123456789"
	slowKey  = "slow-key-0123456789"
	// Keys of one scope each; sendKey is the third.
	pushKey      = "push-key-0123456789"
	adminOnlyKey = "admin-only-key-0123456789"
)

// server runs the real store, chat server and API on one listener.
type server struct {
	t      *testing.T
	url    string
	store  *history.Store
	log    *logvendor.Vendor
	offset atomic.Int64 // the clock of the API and the push layer, ahead of the wall clock
}

func (s *server) now() time.Time { return time.Now().Add(time.Duration(s.offset.Load())) }

func newServer(t *testing.T) *server {
	t.Helper()
	s := &server{t: t, log: logvendor.New(logvendor.Config{})}
	var srv *chat.Server
	store, err := history.Open(t.TempDir(), history.Config{OnCommit: func(b []history.Appended) { srv.Committed(b) }})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := chat.NewJWTVerifier(chat.TokenConfig{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	router := chat.NewLocalRouter()
	tracker := presence.New()
	if srv, err = chat.New(chat.Config{Store: store, Auth: auth, Router: router, Presence: tracker}); err != nil {
		t.Fatal(err)
	}
	pushTable, err := store.Table("push")
	if err != nil {
		t.Fatal(err)
	}
	push, err := offlinepush.New(offlinepush.Config{KV: chat.PushKV{Table: pushTable}, Facts: chat.PushFacts{Store: store, Presence: tracker}, Vendors: []offlinepush.Vendor{s.log}, Now: s.now})
	if err != nil {
		t.Fatal(err)
	}
	table, err := store.Table("api")
	if err != nil {
		t.Fatal(err)
	}
	tagTable, err := store.Table("tags")
	if err != nil {
		t.Fatal(err)
	}
	tags, err := offlinepush.NewTags(chat.PushKV{Table: tagTable}, offlinepush.TagLimits{PerTarget: 3, Distinct: 5})
	if err != nil {
		t.Fatal(err)
	}
	api, err := New(Config{
		Keys: []Key{
			{Name: "backend", Secret: sendKey, Scopes: []Scope{ScopeSend}},
			{Name: "ops", Secret: adminKey, Scopes: []Scope{ScopeAdmin, ScopeSend, ScopePush}},
			{Name: "slow", Secret: slowKey, Scopes: []Scope{ScopeSend}, Rate: 1},
			{Name: "pusher", Secret: pushKey, Scopes: []Scope{ScopePush}},
			{Name: "admin", Secret: adminOnlyKey, Scopes: []Scope{ScopeAdmin}},
		},
		Store:    store,
		KV:       chat.PushKV{Table: table},
		Tags:     tags,
		Push:     push,
		Presence: tracker,
		Router:   router,
		Now:      s.now,
		Mint: func(user, device, platform string, ttl time.Duration) (string, time.Time, error) {
			exp := time.Now().Add(ttl)
			tok, err := chat.SignHS256(secret, chat.Claims{User: user, Expires: exp, Device: device, Platform: platform}, time.Now(), "", "")
			return tok, exp, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	push.Start()
	mux := http.NewServeMux()
	mux.Handle("/v1/ws", srv)
	mux.Handle("/", checkResponses(t, api)) // every answer is checked against the OpenAPI document
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		srv.Close(context.Background())
		push.Close(context.Background())
		store.Close()
	})
	s.url, s.store = hs.URL, store
	return s
}

// call makes a request and decodes the JSON answer into a map.
func (s *server) call(method, path, key string, body any, headers ...string) (int, map[string]any, http.Header) {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, s.url+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			s.t.Fatalf("%s %s answered %s", method, path, data)
		}
	}
	return resp.StatusCode, out, resp.Header
}

// ws logs user in over the WebSocket with a token minted by the API.
func (s *server) ws(user, device string) *websocket.Conn {
	s.t.Helper()
	code, tok, _ := s.call("POST", "/v1/tokens", adminKey, map[string]any{"user": user, "device": device})
	if code != http.StatusCreated {
		s.t.Fatalf("POST /v1/tokens: %d %v", code, tok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/v1/ws", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.CloseNow() })
	write(s.t, c, map[string]any{"type": "auth", "token": tok["token"], "device": device})
	if f := read(s.t, c); f["type"] != "authed" {
		s.t.Fatalf("auth: %v", f)
	}
	write(s.t, c, map[string]any{"type": "sync", "after": 0})
	for f := read(s.t, c); f["type"] != "synced"; f = read(s.t, c) {
	}
	return c
}

func write(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	data, _ := json.Marshal(v)
	if err := c.Write(context.Background(), websocket.MessageText, data); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	json.Unmarshal(data, &f)
	return f
}

func TestKeysScopesAndRateLimit(t *testing.T) {
	s := newServer(t)
	msg := map[string]any{"to": "bob", "body": map[string]string{"text": "hi"}}
	for _, tc := range []struct {
		key    string
		path   string
		status int
		typ    string
	}{
		{"", "/v1/messages", 401, "urn:loft:problem:unauthorized"},
		{"wrong-key-0123456789", "/v1/messages", 401, "urn:loft:problem:unauthorized"},
		{sendKey, "/v1/tokens", 403, "urn:loft:problem:forbidden"},
	} {
		code, body, _ := s.call("POST", tc.path, tc.key, msg)
		if code != tc.status || body["type"] != tc.typ || body["title"] == "" || body["status"] != float64(tc.status) {
			t.Errorf("key %q on %s: %d %v", tc.key, tc.path, code, body)
		}
	}
	// Rate 1/s, bursts of 2: the third request at once is refused.
	var codes []int
	var hdr http.Header
	for range 3 {
		code, _, h := s.call("POST", "/v1/messages", slowKey, msg)
		codes, hdr = append(codes, code), h
	}
	if fmt.Sprint(codes) != "[201 201 429]" || hdr.Get("Retry-After") == "" {
		t.Fatalf("codes %v, Retry-After %q", codes, hdr.Get("Retry-After"))
	}
	if code, body, _ := s.call("GET", "/healthz", "", nil); code != 200 || body["status"] != "ok" {
		t.Fatalf("healthz: %d %v", code, body)
	}
	if code, _, _ := s.call("GET", "/v1/nothing", sendKey, nil); code != 404 {
		t.Fatalf("unknown endpoint: %d", code)
	}
}

func TestBadRequestsNameTheField(t *testing.T) {
	s := newServer(t)
	users := make([]string, 1001)
	for i := range users {
		users[i] = fmt.Sprint("u", i)
	}
	for _, tc := range []struct {
		body  any
		field string
	}{
		{`{"to":"bob","body":{},"colour":"red"}`, "/colour"},
		{`{"to":5,"body":{}}`, "/to"},
		{`{"to":"bob","users":["carol"],"body":{}}`, "/to"},
		{map[string]any{"users": users, "body": map[string]any{}}, "/users"},
		{`{"users":["ok","not ok"],"body":{}}`, "/users/1"},
		{`{"to":"@system","body":{}}`, "/to"},
		{`{"to":"bob","body":"text"}`, "/body"},
		{`{"group":"g:abc","body":{}}`, "/from"},
		{`{"to":"bob","body":{}} {}`, ""},
	} {
		code, body, _ := s.call("POST", "/v1/messages", sendKey, tc.body)
		if code != 400 || body["field"] != nilIfEmpty(tc.field) || body["type"] != "urn:loft:problem:bad-request" {
			t.Errorf("%v: %d %v, want field %q", tc.body, code, body, tc.field)
		}
	}
	// Nothing was stored by any of them.
	if code, _, _ := s.call("GET", "/v1/messages/1/report", sendKey, nil); code != 404 {
		t.Fatalf("a message exists after bad requests: %d", code)
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// A system message reaches the user's device live; its report follows what
// the device does, and a retried request stores nothing twice.
func TestSystemMessageReportAndIdempotency(t *testing.T) {
	s := newServer(t)
	bob := s.ws("bob", "phone")
	req := map[string]any{"to": "bob", "body": map[string]string{"text": "your order shipped"}}
	code, res, _ := s.call("POST", "/v1/messages", sendKey, req, "Idempotency-Key", "order-42")
	if code != http.StatusCreated {
		t.Fatalf("POST /v1/messages: %d %v", code, res)
	}
	sent := res["messages"].([]any)[0].(map[string]any)
	id := uint64(sent["msg_id"].(float64))
	f := read(t, bob)
	entry := f["messages"].([]any)[0].(map[string]any)
	if entry["from"] != chat.SystemUser || entry["conv"] != history.DirectConv(chat.SystemUser, "bob") || uint64(entry["id"].(float64)) != id {
		t.Fatalf("bob got %v", f)
	}

	// The same request again: the first answer, nothing stored twice.
	code, again, hdr := s.call("POST", "/v1/messages", sendKey, req, "Idempotency-Key", "order-42")
	if code != http.StatusCreated || fmt.Sprint(again) != fmt.Sprint(res) || hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %v", code, again)
	}
	code, conflict, _ := s.call("POST", "/v1/messages", sendKey, map[string]any{"to": "bob", "body": map[string]string{"text": "other"}}, "Idempotency-Key", "order-42")
	if code != http.StatusUnprocessableEntity || conflict["type"] != "urn:loft:problem:idempotency-key-reused" {
		t.Fatalf("reuse with another body: %d %v", code, conflict)
	}

	path := fmt.Sprintf("/v1/messages/%d/report", id)
	report := func() map[string]any {
		t.Helper()
		code, r, _ := s.call("GET", path, sendKey, nil)
		if code != 200 {
			t.Fatalf("report: %d %v", code, r)
		}
		return r
	}
	if r := report(); r["users"] != 1.0 || r["devices"] != 1.0 || r["delivered"] != 0.0 || r["read"] != 0.0 {
		t.Fatalf("report before the device acked: %v", r)
	}
	// The device confirms it, then reads it: the report says so at once.
	write(t, bob, map[string]any{"type": "received", "id": "r", "pts": entry["pts"]})
	for f := read(t, bob); f["type"] != "cursor"; f = read(t, bob) {
	}
	if r := report(); r["delivered"] != 1.0 || r["read"] != 0.0 {
		t.Fatalf("report after received: %v", r)
	}
	write(t, bob, map[string]any{"type": "read", "id": "m", "conv": entry["conv"], "seq": entry["seq"]})
	for f := read(t, bob); f["type"] != "marked"; f = read(t, bob) {
	}
	if r := report(); r["read"] != 1.0 {
		t.Fatalf("report after read: %v", r)
	}
	// Only one message was stored for both requests.
	if ms, _, err := s.store.History("bob", history.DirectConv(chat.SystemUser, "bob"), 0, 10); err != nil || len(ms) != 1 {
		t.Fatalf("history = %d messages, %v", len(ms), err)
	}
}

// A message to many users, and one on behalf of a group member.
func TestMessagesToUsersAndGroups(t *testing.T) {
	s := newServer(t)
	code, res, _ := s.call("POST", "/v1/messages", sendKey, map[string]any{"users": []string{"ann", "ben", "cy"}, "body": map[string]string{"text": "maintenance at 2"}})
	if code != 201 || len(res["messages"].([]any)) != 3 {
		t.Fatalf("to three users: %d %v", code, res)
	}
	if _, err := s.store.CreateGroup(context.Background(), history.GroupRequest{Conv: "g:team", Name: "team", Users: []string{"ann", "ben"}}); err != nil {
		t.Fatal(err)
	}
	code, res, _ = s.call("POST", "/v1/messages", sendKey, map[string]any{"group": "g:team", "from": "ann", "body": map[string]string{"text": "standup"}})
	if code != 201 {
		t.Fatalf("to a group: %d %v", code, res)
	}
	code, res, _ = s.call("POST", "/v1/messages", sendKey, map[string]any{"group": "g:team", "from": "zed", "body": map[string]string{"text": "x"}})
	if code != 403 {
		t.Fatalf("on behalf of a non-member: %d %v", code, res)
	}
	_, res, _ = s.call("POST", "/v1/messages", sendKey, map[string]any{"group": "g:team", "from": "ben", "body": map[string]string{"text": "hi"}})
	id := uint64(res["messages"].([]any)[0].(map[string]any)["msg_id"].(float64))
	if code, r, _ := s.call("GET", fmt.Sprintf("/v1/messages/%d/report", id), sendKey, nil); code != 200 || r["users"] != 1.0 {
		t.Fatalf("group report: %d %v", code, r)
	}
}

func TestTags(t *testing.T) {
	s := newServer(t)
	add := func(path string, tags ...string) (int, map[string]any) {
		code, body, _ := s.call("POST", path, adminKey, map[string]any{"tags": tags})
		return code, body
	}
	if code, body := add("/v1/users/bob/tags", "vip", "beta"); code != 200 || fmt.Sprint(body["tags"]) != "[beta vip]" {
		t.Fatalf("add to a user: %d %v", code, body)
	}
	if code, body := add("/v1/users/bob/devices/phone/tags", "android", "vip"); code != 200 || fmt.Sprint(body["tags"]) != "[android vip]" {
		t.Fatalf("add to a device: %d %v", code, body)
	}
	// Over the per-target limit (3 in this test): refused, nothing added.
	if code, body := add("/v1/users/bob/tags", "a", "b"); code != 422 || body["type"] != "urn:loft:problem:tag-limit" || body["detail"] == "" {
		t.Fatalf("over the limit: %d %v", code, body)
	}
	if code, body := add("/v1/users/bob/tags", "not ok"); code != 400 || body["field"] != "/tags" {
		t.Fatalf("a bad tag: %d %v", code, body)
	}
	code, list, _ := s.call("GET", "/v1/tags", adminKey, nil)
	if code != 200 || fmt.Sprint(list["tags"]) != "[map[tag:android targets:1] map[tag:beta targets:1] map[tag:vip targets:2]]" {
		t.Fatalf("list: %d %v", code, list)
	}
	code, body, _ := s.call("DELETE", "/v1/users/bob/tags", adminKey, map[string]any{"tags": []string{"beta"}})
	if code != 200 || fmt.Sprint(body["tags"]) != "[vip]" {
		t.Fatalf("remove: %d %v", code, body)
	}
	if code, _, _ := s.call("GET", "/v1/tags", sendKey, nil); code != 403 {
		t.Fatalf("a send key on tags: %d", code)
	}
	// At most 5 distinct tags in this test: beta's slot was freed by its
	// removal, so three new ones fit and a sixth does not.
	if code, body := add("/v1/users/cy/tags", "t1", "t2", "t3"); code != 200 {
		t.Fatalf("up to the distinct limit: %d %v", code, body)
	}
	if code, body := add("/v1/users/dan/tags", "t4"); code != 422 || body["type"] != "urn:loft:problem:tag-limit" {
		t.Fatalf("over the distinct limit: %d %v", code, body)
	}
	if code, body := add("/v1/users/dan/tags", "t1"); code != 200 || fmt.Sprint(body["tags"]) != "[t1]" {
		t.Fatalf("a tag that exists, at the distinct limit: %d %v", code, body)
	}
}

// A backend sees a user's devices, registers a push token for one, and
// kicks another, which is told why and closed.
func TestUsersDevicesKickAndTokens(t *testing.T) {
	s := newServer(t)
	laptop := s.ws("bob", "laptop")
	s.ws("bob", "phone").CloseNow()
	code, _, _ := s.call("POST", "/v1/users/bob/devices/phone/push-token", adminKey, map[string]any{"vendor": "log", "token": "T1", "platform": "android"})
	if code != 200 {
		t.Fatalf("push-token: %d", code)
	}
	if code, body, _ := s.call("POST", "/v1/users/bob/devices/phone/push-token", adminKey, map[string]any{"vendor": "pigeon", "token": "T2"}); code != 400 || body["field"] != "/vendor" {
		t.Fatalf("an unknown vendor: %d %v", code, body)
	}
	var user struct {
		Online  bool         `json:"online"`
		Devices []deviceJSON `json:"devices"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", s.url+"/v1/users/bob", nil)
		req.Header.Set("Authorization", "Bearer "+adminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&user)
		resp.Body.Close()
		if len(user.Devices) == 2 && !user.Devices[1].Online || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // the phone's disconnect and its device record are not waited for
	}
	if !user.Online || fmt.Sprint(user.Devices) != "[{laptop unknown true active "+fmt.Sprint(user.Devices[0].LastSeen)+" []} {phone unknown false active "+fmt.Sprint(user.Devices[1].LastSeen)+" [log]}]" {
		t.Fatalf("user = %+v", user)
	}
	if code, body, _ := s.call("POST", "/v1/users/bob/devices/laptop/kick", adminKey, map[string]any{}); code != 400 || body["field"] != "/unbind_push" {
		t.Fatalf("kick without unbind_push: %d %v", code, body)
	}
	if code, _, _ := s.call("POST", "/v1/users/bob/devices/laptop/kick", adminKey, map[string]any{"unbind_push": true}); code != 200 {
		t.Fatalf("kick: %d", code)
	}
	f := read(t, laptop)
	if f["type"] != "kicked" || f["reason"] != KickByBackend {
		t.Fatalf("the laptop got %v", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := laptop.Read(ctx); websocket.CloseStatus(err) != chat.CloseKicked {
		t.Fatalf("the laptop's connection ended with %v", err)
	}
	if code, _, _ := s.call("DELETE", "/v1/users/bob/devices/phone/push-token", adminKey, nil); code != 204 {
		t.Fatalf("delete push-token: %d", code)
	}
}

func TestGroups(t *testing.T) {
	s := newServer(t)
	code, g, _ := s.call("POST", "/v1/groups", adminKey, map[string]any{"id": "team", "name": "Team", "owner": "ann", "members": []string{"ben"}})
	if code != 201 || g["group"] != "g:team" || g["owner"] != "ann" || fmt.Sprint(g["members"]) != "[map[role:owner user:ann] map[role:member user:ben]]" {
		t.Fatalf("create: %d %v", code, g)
	}
	if code, g, _ = s.call("POST", "/v1/groups", adminKey, map[string]any{"id": "team", "name": "Again", "members": []string{"zed"}}); code != 409 {
		t.Fatalf("create an existing id: %d %v", code, g)
	}
	if code, g, _ = s.call("POST", "/v1/groups", adminKey, map[string]any{"id": "nobody", "name": "Empty"}); code != 400 || g["field"] != "/members" {
		t.Fatalf("create a group of nobody: %d %v", code, g)
	}
	if code, g, _ = s.call("POST", "/v1/groups/team/members", adminKey, map[string]any{"users": []string{"cy"}}); code != 200 || len(g["members"].([]any)) != 3 {
		t.Fatalf("add: %d %v", code, g)
	}
	if code, g, _ = s.call("DELETE", "/v1/groups/g:team/members", adminKey, map[string]any{"users": []string{"ben"}}); code != 200 || len(g["members"].([]any)) != 2 {
		t.Fatalf("remove: %d %v", code, g)
	}
	if code, g, _ = s.call("POST", "/v1/groups/team/name", adminKey, map[string]any{"name": "Dream team"}); code != 200 || g["name"] != "Dream team" {
		t.Fatalf("rename: %d %v", code, g)
	}
	if code, g, _ = s.call("POST", "/v1/groups/team/members", adminKey, map[string]any{"users": []string{"cy"}}); code != 400 || g["detail"] == "" {
		t.Fatalf("add a member again: %d %v", code, g)
	}
	if code, _, _ := s.call("GET", "/v1/groups/nope", adminKey, nil); code != 404 {
		t.Fatalf("an unknown group: %d", code)
	}
	// Every change is an event of the group, in order: ben has his removal.
	ms, _, err := s.store.History("ben", "g:team", 0, 10)
	if err != nil || len(ms) != 3 || ms[2].Kind != history.KindEvent {
		t.Fatalf("ben's history: %+v %v", ms, err)
	}
	// Deleted: the members get the event, and the group is gone.
	if code, _, _ := s.call("DELETE", "/v1/groups/team", adminKey, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, _, _ := s.call("GET", "/v1/groups/team", adminKey, nil); code != 404 {
		t.Fatalf("a deleted group: %d", code)
	}
	if code, _, _ := s.call("DELETE", "/v1/groups/team", adminKey, nil); code != 404 {
		t.Fatalf("delete again: %d", code)
	}
	ms, _, _ = s.store.History("cy", "g:team", 0, 10)
	if last := ms[len(ms)-1]; !strings.Contains(string(last.Body), `"deleted"`) {
		t.Fatalf("cy's last entry: %s", last.Body)
	}
	if _, err := s.store.Append(context.Background(), history.AppendRequest{From: "ann", Device: "d", ClientID: "x", Conv: "g:team", Body: []byte(`{}`)}); err == nil {
		t.Fatal("a deleted group took a message")
	}
}

// waitReport polls a push's report until cond holds.
func (s *server) waitReport(id string, cond func(map[string]any) bool) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, r, _ := s.call("GET", "/v1/pushes/"+id+"/report", adminKey, nil)
		if code == 200 && cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("push %s report: %d %v", id, code, r)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPushes(t *testing.T) {
	s := newServer(t)
	for _, u := range []string{"bob", "cy"} {
		if code, _, _ := s.call("POST", "/v1/users/"+u+"/devices/phone/push-token", adminKey, map[string]any{"vendor": "log", "token": "T-" + u, "platform": "ios"}); code != 200 {
			t.Fatal(code)
		}
	}
	s.call("POST", "/v1/users/bob/tags", adminKey, map[string]any{"tags": []string{"vip"}})
	pushed := func(r map[string]any) bool { return fmt.Sprint(r["pushed"]) == "map[log:1]" }

	// To users, with a per-platform text.
	code, p, _ := s.call("POST", "/v1/pushes", adminKey, map[string]any{"users": []string{"bob"}, "title": "Sale", "body": "50% off", "platforms": map[string]any{"ios": map[string]string{"title": "iOS sale", "body": "50% off"}}})
	if code != 201 || p["devices"] != 1.0 {
		t.Fatalf("to users: %d %v", code, p)
	}
	s.waitReport(p["push_id"].(string), pushed)
	if rs := s.log.Recent("T-bob", 1); len(rs) != 1 || rs[0].Title != "iOS sale" || rs[0].Data["push_id"] != p["push_id"] {
		t.Fatalf("bob's phone got %+v", rs)
	}
	// To a tag expression: only bob is a vip.
	code, p, _ = s.call("POST", "/v1/pushes", adminKey, map[string]any{"tags": "vip AND NOT churned", "title": "VIP"})
	if code != 201 || p["devices"] != 1.0 {
		t.Fatalf("to tags: %d %v", code, p)
	}
	s.waitReport(p["push_id"].(string), pushed)
	if code, p, _ = s.call("POST", "/v1/pushes", adminKey, map[string]any{"tags": "vip AND", "title": "x"}); code != 400 || p["field"] != "/tags" {
		t.Fatalf("a bad expression: %d %v", code, p)
	}

	// Scheduled an hour ahead: cancelled before it starts, it is never sent.
	at := s.now().Add(time.Hour).UTC().Format(time.RFC3339)
	_, later, _ := s.call("POST", "/v1/pushes", adminKey, map[string]any{"users": []string{"cy"}, "title": "later", "send_at": at})
	_, kept, _ := s.call("POST", "/v1/pushes", adminKey, map[string]any{"users": []string{"cy"}, "title": "kept", "send_at": at})
	if r := s.waitReport(later["push_id"].(string), func(map[string]any) bool { return true }); r["queued"] != 1.0 {
		t.Fatalf("scheduled report: %v", r)
	}
	if code, _, _ := s.call("DELETE", "/v1/pushes/"+later["push_id"].(string), adminKey, nil); code != 204 {
		t.Fatalf("cancel: %d", code)
	}
	s.offset.Add(int64(2 * time.Hour)) // the clock moves past send_at
	s.waitReport(later["push_id"].(string), func(r map[string]any) bool {
		return fmt.Sprint(r["push_failed"]) == "map[cancelled:1]" && r["cancelled"] == true
	})
	s.waitReport(kept["push_id"].(string), pushed)
	if rs := s.log.Recent("T-cy", 0); len(rs) != 1 || rs[0].Title != "kept" {
		t.Fatalf("cy's phone got %+v", rs)
	}
	if code, _, _ := s.call("DELETE", "/v1/pushes/"+kept["push_id"].(string), adminKey, nil); code != 409 {
		t.Fatalf("cancel after the start: %d", code)
	}

	// A push to everyone at most every 3 s.
	if code, p, _ = s.call("POST", "/v1/pushes", adminKey, map[string]any{"all": true, "title": "hello all"}); code != 201 || p["devices"] != 2.0 {
		t.Fatalf("broadcast: %d %v", code, p)
	}
	if code, _, hdr := s.call("POST", "/v1/pushes", adminKey, map[string]any{"all": true, "title": "again"}); code != 429 || hdr.Get("Retry-After") == "" {
		t.Fatalf("a second broadcast at once: %d", code)
	}
	s.offset.Add(int64(3 * time.Second))
	if code, _, _ := s.call("POST", "/v1/pushes", adminKey, map[string]any{"all": true, "title": "later"}); code != 201 {
		t.Fatalf("a broadcast 3 s later: %d", code)
	}
	if code, _, _ := s.call("POST", "/v1/pushes", sendKey, map[string]any{"all": true, "title": "x"}); code != 403 {
		t.Fatalf("a send key pushing: %d", code)
	}
}

// A system message to the users a tag expression selects, and one to
// everyone who has logged in: each gets it live, once, also on a retry.
func TestMessagesToTagsAndEveryone(t *testing.T) {
	s := newServer(t)
	conns := map[string]*websocket.Conn{}
	for _, u := range []string{"ann", "bob", "cy"} {
		conns[u] = s.ws(u, "phone")
	}
	s.call("POST", "/v1/users/bob/tags", adminKey, map[string]any{"tags": []string{"vip"}})
	s.call("POST", "/v1/users/cy/devices/phone/tags", adminKey, map[string]any{"tags": []string{"vip"}})
	got := func(user, text string) {
		t.Helper()
		f := read(t, conns[user])
		m := f["messages"].([]any)[0].(map[string]any)
		if m["from"] != chat.SystemUser || m["body"].(map[string]any)["text"] != text {
			t.Fatalf("%s got %v, want %q", user, f, text)
		}
	}
	users := func(res map[string]any) string {
		var us []string
		for _, m := range res["messages"].([]any) {
			us = append(us, m.(map[string]any)["user"].(string))
		}
		return strings.Join(us, ",")
	}

	code, res, _ := s.call("POST", "/v1/messages", sendKey, map[string]any{"tags": "vip AND NOT churned", "body": map[string]string{"text": "vip sale"}}, "Idempotency-Key", "vip-1")
	if code != 201 || users(res) != "bob,cy" {
		t.Fatalf("to tags: %d %v", code, res)
	}
	got("bob", "vip sale")
	got("cy", "vip sale")
	if code, again, _ := s.call("POST", "/v1/messages", sendKey, map[string]any{"tags": "vip AND NOT churned", "body": map[string]string{"text": "vip sale"}}, "Idempotency-Key", "vip-1"); code != 201 || fmt.Sprint(again) != fmt.Sprint(res) {
		t.Fatalf("retry: %d %v", code, again)
	}
	if code, res, _ := s.call("POST", "/v1/messages", sendKey, map[string]any{"tags": "nobody", "body": map[string]string{"text": "x"}}); code != 201 || len(res["messages"].([]any)) != 0 {
		t.Fatalf("tags that match nobody: %d %v", code, res)
	}

	// Logins record their devices a moment after they are answered.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if us, _ := s.store.Users("", 10); len(us) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	code, res, _ = s.call("POST", "/v1/messages", sendKey, map[string]any{"all": true, "body": map[string]string{"text": "maintenance at 2"}})
	if code != 201 || users(res) != "ann,bob,cy" {
		t.Fatalf("to everyone: %d %v", code, res)
	}
	for _, u := range []string{"ann", "bob", "cy"} {
		got(u, "maintenance at 2")
	}
	// Each got exactly two system messages: the retry stored nothing.
	if ms, _, err := s.store.History("bob", history.DirectConv(chat.SystemUser, "bob"), 0, 10); err != nil || len(ms) != 2 {
		t.Fatalf("bob's system conversation: %d messages, %v", len(ms), err)
	}

	for _, bad := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"tags": "vip AND", "body": map[string]any{}}, "/tags"},
		{map[string]any{"all": true, "to": "bob", "body": map[string]any{}}, "/to"},
		{map[string]any{"all": true, "tags": "vip", "body": map[string]any{}}, "/to"},
	} {
		if code, p, _ := s.call("POST", "/v1/messages", sendKey, bad.body); code != 400 || p["field"] != bad.field {
			t.Errorf("%v: %d %v, want a 400 naming %s", bad.body, code, p, bad.field)
		}
	}
}

// A minted token is bound to the device it names, and a retry of the
// request with the same Idempotency-Key returns the same token.
func TestTokensBindAndReplay(t *testing.T) {
	s := newServer(t)
	req := map[string]any{"user": "bob", "device": "phone", "platform": "ios", "ttl_seconds": 600}
	code, tok, _ := s.call("POST", "/v1/tokens", adminKey, req, "Idempotency-Key", "bob-phone-1")
	if code != 201 || tok["user"] != "bob" {
		t.Fatalf("mint: %d %v", code, tok)
	}
	if exp := int64(tok["expires"].(float64)); exp < s.now().Add(590*time.Second).Unix() || exp > time.Now().Add(610*time.Second).Unix() {
		t.Fatalf("expires %d, want in 10 minutes", exp)
	}
	if code, again, hdr := s.call("POST", "/v1/tokens", adminKey, req, "Idempotency-Key", "bob-phone-1"); code != 201 || again["token"] != tok["token"] || hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %v", code, again)
	}
	if code, p, _ := s.call("POST", "/v1/tokens", adminKey, map[string]any{"user": "bob", "device": "not ok"}); code != 400 || p["field"] != "/device" {
		t.Fatalf("a bad device: %d %v", code, p)
	}
	login := func(device string) map[string]any {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/v1/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		write(t, c, map[string]any{"type": "auth", "token": tok["token"], "device": device})
		return read(t, c)
	}
	if f := login("laptop"); f["type"] != "error" || f["code"] != "forbidden" {
		t.Fatalf("the phone's token on a laptop: %v", f)
	}
	if f := login(""); f["type"] != "authed" {
		t.Fatalf("the phone's token naming no device: %v", f)
	}
}
