package chat

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/offlinepush"
	"github.com/loftchat/loft/presence"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// testServer is a real chat server over a real store in a temp dir.
type testServer struct {
	mu       sync.Mutex // serialises stop
	tb       testing.TB
	dir      string
	hcfg     history.Config // the store's config, minus OnCommit
	cfg      Config
	store    *history.Store
	srv      *Server
	presence *presence.Tracker
	// pushCfg, if set, runs a push layer on the store (its KV, Facts and
	// Done are filled in); push is it.
	pushCfg *offlinepush.Config
	push    *offlinepush.Service
	http    *httptest.Server
	url     string
}

// newTestServer starts a server; adjust may change the chat config.
func newTestServer(tb testing.TB, adjust func(*Config)) *testServer {
	tb.Helper()
	return newTestServerStore(tb, history.Config{}, adjust)
}

// newTestServerStore is newTestServer with a store config.
func newTestServerStore(tb testing.TB, hcfg history.Config, adjust func(*Config)) *testServer {
	tb.Helper()
	ts := &testServer{tb: tb, dir: tb.TempDir(), hcfg: hcfg}
	ts.start(adjust)
	tb.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) start(adjust func(*Config)) {
	ts.tb.Helper()
	var srv *Server
	var push *offlinepush.Service
	hcfg := ts.hcfg
	hcfg.OnCommit = func(b []history.Appended) { srv.Committed(b) }
	if ts.pushCfg != nil {
		hcfg.PushPending = func(m *history.Message, refs []history.InboxRef) bool {
			for _, r := range refs {
				if r.User != m.From && push.Wants(r.User) {
					return true
				}
			}
			return false
		}
	}
	store, err := history.Open(ts.dir, hcfg)
	if err != nil {
		ts.tb.Fatalf("open store: %v", err)
	}
	auth, err := NewJWTVerifier(TokenConfig{Secret: testSecret, Leeway: time.Millisecond})
	if err != nil {
		ts.tb.Fatal(err)
	}
	ts.presence = presence.NewTracker(presence.Config{OnChange: func(c presence.Change) { srv.PresenceChanged(c) }})
	cfg := Config{Store: store, Auth: auth, Presence: ts.presence, TokenLeeway: time.Millisecond}
	if ts.pushCfg != nil {
		table, err := store.Table("push")
		if err != nil {
			ts.tb.Fatal(err)
		}
		pcfg := *ts.pushCfg
		pcfg.KV, pcfg.Facts, pcfg.Done = PushKV{Table: table}, PushFacts{Store: store, Presence: ts.presence}, store.DonePending
		if push, err = offlinepush.New(pcfg); err != nil {
			ts.tb.Fatal(err)
		}
		store.Pending(func(a history.Appended) error {
			push.Handle(PushMessages(push, []history.Appended{a}))
			return nil
		})
		push.Start()
		ts.push, cfg.Push = push, push
	}
	if adjust != nil {
		adjust(&cfg)
	}
	srv, err = New(cfg)
	if err != nil {
		ts.tb.Fatal(err)
	}
	ts.cfg, ts.store, ts.srv = cfg, store, srv
	mux := http.NewServeMux()
	mux.Handle("/v1/ws", srv)
	ts.http = httptest.NewServer(mux)
	ts.url = "ws" + strings.TrimPrefix(ts.http.URL, "http") + "/v1/ws"
}

// stop shuts the server down the way cmd/loft does. Safe to call twice.
func (ts *testServer) stop() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ts.http.Config.Shutdown(ctx)
	if err := ts.srv.Close(ctx); err != nil {
		ts.tb.Errorf("chat close: %v", err)
	}
	if ts.push != nil {
		ts.push.Close(ctx)
	}
	ts.http.Close()
	if err := ts.store.Close(); err != nil {
		ts.tb.Errorf("store close: %v", err)
	}
	ts.srv = nil
}

// restart stops the server and starts a new one on the same data dir.
func (ts *testServer) restart() {
	ts.stop()
	ts.start(nil)
}

func token(tb testing.TB, user string, ttl time.Duration) string {
	tb.Helper()
	return signToken(tb, jwt.SigningMethodHS256, testSecret, jwt.RegisteredClaims{
		Subject:   user,
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(ttl)),
	})
}

func signToken(tb testing.TB, m jwt.SigningMethod, key any, claims jwt.Claims) string {
	tb.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// frame is any server frame, decoded into the union of their fields.
type frame struct {
	Type          string          `json:"type"`
	ID            string          `json:"id"`
	Code          string          `json:"code"`
	Message       string          `json:"message"`
	User          string          `json:"user"`
	Device        string          `json:"device"`
	Cursor        uint64          `json:"cursor"`
	Head          uint64          `json:"head"`
	MsgID         uint64          `json:"msg_id"`
	Conv          string          `json:"conv"`
	Seq           uint64          `json:"seq"`
	Pts           uint64          `json:"pts"`
	TS            int64           `json:"ts"`
	Duplicate     bool            `json:"duplicate"`
	Messages      []entry         `json:"messages"`
	More          bool            `json:"more"`
	Floor         uint64          `json:"floor"`
	Conversations []conversation  `json:"conversations"`
	Groups        json.RawMessage `json:"groups"`
	GroupsMark    uint64          `json:"groups_mark"`
	Reason        string          `json:"reason"`
	By            string          `json:"by"`
	Online        bool            `json:"online"`
	LastSeen      int64           `json:"last_seen"`
	State         string          `json:"state"`
	Denied        []string        `json:"denied"`
	Raw           json.RawMessage `json:"-"`
}

type entry struct {
	Pts      uint64          `json:"pts"`
	ID       uint64          `json:"id"`
	Conv     string          `json:"conv"`
	Seq      uint64          `json:"seq"`
	From     string          `json:"from"`
	Device   string          `json:"device"`
	CID      string          `json:"cid"`
	TS       int64           `json:"ts"`
	Kind     string          `json:"kind"`
	Ref      uint64          `json:"ref"`
	Recalled bool            `json:"recalled"`
	Deleted  bool            `json:"deleted"`
	Edited   int64           `json:"edited"`
	Body     json.RawMessage `json:"body"`
}

type conversation struct {
	Conv     string   `json:"conv"`
	Members  []string `json:"members"`
	Name     string   `json:"name"`
	Size     int      `json:"size"`
	Role     string   `json:"role"`
	Left     bool     `json:"left"`
	LastSeq  uint64   `json:"last_seq"`
	Last     *entry   `json:"last"`
	ReadSeq  uint64   `json:"read_seq"`
	Unread   uint64   `json:"unread"`
	PeerRead uint64   `json:"peer_read"`
	// PeerDelivered is the other member's delivered mark.
	PeerDelivered uint64 `json:"peer_delivered"`
}

// client is a test WebSocket client.
type client struct {
	tb   testing.TB
	conn *websocket.Conn
	user string
}

func (ts *testServer) dial(tb testing.TB) *client {
	tb.Helper()
	return ts.dialOpts(tb, nil)
}

func (ts *testServer) dialOpts(tb testing.TB, opts *websocket.DialOptions) *client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, ts.url, opts)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	conn.SetReadLimit(8 << 20)
	c := &client{tb: tb, conn: conn}
	tb.Cleanup(func() { conn.CloseNow() })
	return c
}

// login dials, authenticates as user on device and returns the authed frame.
func (ts *testServer) login(tb testing.TB, user, device string) (*client, frame) {
	tb.Helper()
	c := ts.dial(tb)
	c.user = user
	c.write(map[string]any{"type": "auth", "id": "a", "token": token(tb, user, time.Hour), "device": device, "platform": "web"})
	f := c.expect("authed")
	return c, f
}

// online logs in and syncs from the device's cursor, so the device is live.
func (ts *testServer) online(tb testing.TB, user, device string) *client {
	tb.Helper()
	c, f := ts.login(tb, user, device)
	c.syncFrom(f.Cursor)
	return c
}

func (c *client) write(v any) {
	c.tb.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		c.tb.Fatal(err)
	}
	c.writeRaw(string(data))
}

func (c *client) writeRaw(s string) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.tb.Fatalf("write: %v", err)
	}
}

// read returns the next frame, or the error that ended the connection.
func (c *client) read() (frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := c.conn.Read(ctx)
	if err != nil {
		return frame{}, err
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		c.tb.Fatalf("server sent invalid JSON %q: %v", data, err)
	}
	f.Raw = data
	return f, nil
}

// expect reads the next frame and fails unless it has type typ. Live
// entries (messages frames without an id) in between are skipped: tests that
// count entries use entries and syncFrom.
func (c *client) expect(typ string) frame {
	c.tb.Helper()
	f, err := c.read()
	for err == nil && typ != "messages" && f.Type == "messages" && f.ID == "" {
		f, err = c.read()
	}
	if err != nil {
		c.tb.Fatalf("waiting for %q: %v", typ, err)
	}
	if f.Type != typ {
		c.tb.Fatalf("got frame %s, want type %q", f.Raw, typ)
	}
	return f
}

// expectError reads the next frame and fails unless it is an error with code.
func (c *client) expectError(code Code) frame {
	c.tb.Helper()
	f := c.expect("error")
	if f.Code != string(code) {
		c.tb.Fatalf("got error %s, want code %q", f.Raw, code)
	}
	if f.Message == "" {
		c.tb.Fatalf("error without a message: %s", f.Raw)
	}
	return f
}

// expectClose reads until the connection ends and checks its close code.
func (c *client) expectClose(code websocket.StatusCode) {
	c.tb.Helper()
	for {
		f, err := c.read()
		if err != nil {
			if got := websocket.CloseStatus(err); got != code {
				c.tb.Fatalf("connection ended with %v (status %d), want status %d", err, got, code)
			}
			return
		}
		_ = f
	}
}

// syncFrom syncs after pts and returns the entries up to "synced".
func (c *client) syncFrom(after uint64) []entry {
	c.tb.Helper()
	c.write(map[string]any{"type": "sync", "id": "s", "after": after})
	var out []entry
	for {
		f, err := c.read()
		if err != nil {
			c.tb.Fatalf("sync: %v", err)
		}
		switch f.Type {
		case "messages":
			if f.ID == "s" {
				out = append(out, f.Messages...)
				continue
			}
			c.tb.Fatalf("live messages before synced: %s", f.Raw)
		case "group_seq":
			// A large group's seq may be told at any time, also for what
			// the sync covers.
		case "synced":
			if f.ID != "s" {
				c.tb.Fatalf("synced with id %q", f.ID)
			}
			return out
		default:
			c.tb.Fatalf("unexpected frame during sync: %s", f.Raw)
		}
	}
}

// entries reads live messages frames until n entries arrived, skipping acks.
func (c *client) entries(n int) []entry {
	c.tb.Helper()
	var out []entry
	for len(out) < n {
		f, err := c.read()
		if err != nil {
			c.tb.Fatalf("after %d of %d entries: %v", len(out), n, err)
		}
		switch f.Type {
		case "messages":
			out = append(out, f.Messages...)
		case "ack":
		default:
			c.tb.Fatalf("unexpected frame while waiting for entries: %s", f.Raw)
		}
	}
	if len(out) > n {
		c.tb.Fatalf("got %d entries, want %d", len(out), n)
	}
	return out
}

// nextEntries returns the entries of the next messages frame, however many
// the server coalesced into it (skipping acks).
func (c *client) nextEntries() []entry {
	c.tb.Helper()
	for {
		f, err := c.read()
		if err != nil {
			c.tb.Fatalf("waiting for entries: %v", err)
		}
		switch f.Type {
		case "messages":
			return f.Messages
		case "ack":
		default:
			c.tb.Fatalf("unexpected frame while waiting for entries: %s", f.Raw)
		}
	}
}

// sendMsg sends one message and returns its ack (skipping live entries).
func (c *client) sendMsg(to, cid, body string) frame {
	c.tb.Helper()
	c.writeRaw(`{"type":"send","id":"` + cid + `","to":"` + to + `","cid":"` + cid + `","body":` + body + `}`)
	for {
		f, err := c.read()
		if err != nil {
			c.tb.Fatalf("waiting for ack: %v", err)
		}
		switch f.Type {
		case "messages", "receipt":
			continue
		case "ack":
			if f.ID != cid {
				c.tb.Fatalf("ack for %q, want %q", f.ID, cid)
			}
			return f
		default:
			c.tb.Fatalf("waiting for ack: %s", f.Raw)
		}
	}
}

// eventually waits for cond, polling; it fails after 10 s.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// checkPts fails unless the entries' pts are exactly from+1 .. from+len.
func checkPts(tb testing.TB, es []entry, from uint64) {
	tb.Helper()
	for i, e := range es {
		if want := from + uint64(i) + 1; e.Pts != want {
			tb.Fatalf("entry %d has pts %d, want %d (gap or duplicate)", i, e.Pts, want)
		}
	}
}
