package chat

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

func TestDirectMessageReachesEveryDevice(t *testing.T) {
	ts := newTestServer(t, nil)
	alicePhone := ts.online(t, "alice", "phone")
	aliceLaptop := ts.online(t, "alice", "laptop")
	bobPhone := ts.online(t, "bob", "phone")
	bobWeb := ts.online(t, "bob", "web")

	// The sending device gets the ack and its own entry, in either order.
	alicePhone.writeRaw(`{"type":"send","id":"c1","to":"bob","cid":"c1","body":{"text":"hi bob"}}`)
	var ack frame
	var own []entry
	for ack.Type == "" || len(own) == 0 {
		f, err := alicePhone.read()
		if err != nil {
			t.Fatal(err)
		}
		switch f.Type {
		case "ack":
			ack = f
		case "messages":
			own = append(own, f.Messages...)
		default:
			t.Fatalf("unexpected %s", f.Raw)
		}
	}
	if ack.Conv != "d:alice:bob" || ack.Seq != 1 || ack.MsgID == 0 || ack.TS == 0 || ack.Pts != 1 {
		t.Fatalf("ack = %s", ack.Raw)
	}
	for name, c := range map[string]*client{"bob phone": bobPhone, "bob web": bobWeb, "alice laptop": aliceLaptop, "alice phone": nil} {
		var e entry
		if c == nil {
			e = own[0]
		} else {
			e = c.entries(1)[0]
		}
		if e.ID != ack.MsgID || e.Conv != ack.Conv || e.Seq != 1 || e.From != "alice" || e.Device != "phone" || string(e.Body) != `{"text":"hi bob"}` {
			t.Errorf("%s got %+v", name, e)
		}
		// Only alice's devices learn alice's client id.
		if wantCID := strings.HasPrefix(name, "alice"); (e.CID == "c1") != wantCID {
			t.Errorf("%s: cid = %q", name, e.CID)
		}
	}
}

func TestOrderingUnderConcurrentSenders(t *testing.T) {
	ts := newTestServer(t, nil)
	bobA := ts.online(t, "bob", "a")
	bobB := ts.online(t, "bob", "b")
	const senders, each = 8, 40
	var wg sync.WaitGroup
	for i := 0; i < senders; i++ {
		c := ts.online(t, fmt.Sprint("u", i), "d")
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Pipeline every send before reading any ack.
			for j := 0; j < each; j++ {
				c.writeRaw(fmt.Sprintf(`{"type":"send","to":"bob","cid":"m%d","body":{"n":%d}}`, j, j))
			}
		}()
	}
	wg.Wait()
	for name, c := range map[string]*client{"a": bobA, "b": bobB} {
		es := c.entries(senders * each)
		checkPts(t, es, 0)
		// Within each conversation: seq 1..each with no gap, in the
		// order the sender sent them.
		next := map[string]uint64{}
		for _, e := range es {
			next[e.Conv]++
			if e.Seq != next[e.Conv] {
				t.Fatalf("device %s: %s seq %d, want %d", name, e.Conv, e.Seq, next[e.Conv])
			}
			if want := fmt.Sprintf(`{"n":%d}`, e.Seq-1); string(e.Body) != want {
				t.Fatalf("device %s: %s seq %d has body %s, want %s: sender order lost", name, e.Conv, e.Seq, e.Body, want)
			}
		}
		if len(next) != senders {
			t.Fatalf("device %s saw %d conversations, want %d", name, len(next), senders)
		}
	}
}

func TestRetriedClientIDIsStoredOnce(t *testing.T) {
	ts := newTestServer(t, nil)
	alice, _ := ts.login(t, "alice", "phone")
	first := alice.sendMsg("bob", "same", `{"text":"once"}`)
	again := alice.sendMsg("bob", "same", `{"text": "once"}`) // whitespace does not matter
	if !again.Duplicate || again.MsgID != first.MsgID || again.Seq != first.Seq || again.TS != first.TS || again.Pts != first.Pts {
		t.Fatalf("retry ack = %s, first = %s", again.Raw, first.Raw)
	}
	alice.writeRaw(`{"type":"send","id":"x","to":"bob","cid":"same","body":{"text":"other"}}`)
	alice.expectError(CodeConflict)
	// The same id from another device is a different message.
	laptop, _ := ts.login(t, "alice", "laptop")
	if other := laptop.sendMsg("bob", "same", `{"text":"once"}`); other.Duplicate || other.Seq != 2 {
		t.Fatalf("other device's ack = %s", other.Raw)
	}

	ts.restart()
	alice, _ = ts.login(t, "alice", "phone")
	after := alice.sendMsg("bob", "same", `{"text":"once"}`)
	if !after.Duplicate || after.MsgID != first.MsgID || after.Seq != first.Seq {
		t.Fatalf("retry after restart = %s, first = %s", after.Raw, first.Raw)
	}
	bob, f := ts.login(t, "bob", "phone")
	if f.Head != 2 {
		t.Fatalf("bob's inbox head = %d, want 2", f.Head)
	}
	if es := bob.syncFrom(0); len(es) != 2 {
		t.Fatalf("bob has %d entries, want 2", len(es))
	}
}

func TestOfflineSyncInPagesAndCursor(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.SyncPage = 50 })
	alice, _ := ts.login(t, "alice", "phone")
	const n = 220
	for i := 0; i < n; i++ {
		alice.writeRaw(fmt.Sprintf(`{"type":"send","to":"bob","cid":"m%d","body":{"n":%d}}`, i, i))
	}
	for i := 0; i < n; i++ {
		alice.expect("ack")
	}

	bob, f := ts.login(t, "bob", "phone")
	if f.Cursor != 0 || f.Head != n || f.User != "bob" || f.Device != "phone" {
		t.Fatalf("authed = %s", f.Raw)
	}
	bob.write(map[string]any{"type": "sync", "id": "s", "after": 0})
	var got []entry
	pages := 0
	for {
		f := bob.expect(map[bool]string{true: "synced", false: "messages"}[len(got) == n])
		if f.Type == "synced" {
			if f.Pts != n {
				t.Fatalf("synced at %d, want %d", f.Pts, n)
			}
			break
		}
		pages++
		got = append(got, f.Messages...)
	}
	checkPts(t, got, 0)
	if pages != 5 {
		t.Fatalf("%d pages, want 5 of at most 50", pages)
	}

	bob.write(map[string]any{"type": "received", "id": "r", "pts": 200})
	if f := bob.expect("cursor"); f.Pts != 200 {
		t.Fatalf("cursor = %d", f.Pts)
	}
	bob.write(map[string]any{"type": "received", "id": "r", "pts": 100}) // never backwards
	if f := bob.expect("cursor"); f.Pts != 200 {
		t.Fatalf("cursor moved back to %d", f.Pts)
	}
	bob.write(map[string]any{"type": "received", "id": "r", "pts": n + 1})
	bob.expectError(CodeBadFrame)
	bob.conn.Close(websocket.StatusNormalClosure, "")

	bob, f = ts.login(t, "bob", "phone")
	if f.Cursor != 200 {
		t.Fatalf("cursor after reconnect = %d, want 200", f.Cursor)
	}
	rest := bob.syncFrom(f.Cursor)
	checkPts(t, rest, 200)
	if len(rest) != n-200 {
		t.Fatalf("resync got %d, want %d", len(rest), n-200)
	}
	// Another device of bob has its own cursor.
	if _, f := ts.login(t, "bob", "tablet"); f.Cursor != 0 {
		t.Fatalf("new device cursor = %d", f.Cursor)
	}
}

func TestNoGapOrDuplicateWhenMessagesArriveDuringSync(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.SyncPage = 7 })
	alice, _ := ts.login(t, "alice", "phone")
	for i := 0; i < 100; i++ {
		alice.sendMsg("bob", fmt.Sprint("pre", i), `{}`)
	}
	const during = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < during; i++ {
			alice.writeRaw(fmt.Sprintf(`{"type":"send","to":"bob","cid":"live%d","body":{}}`, i))
		}
	}()
	bob, _ := ts.login(t, "bob", "phone")
	synced := bob.syncFrom(0)
	<-done
	live := bob.entries(100 + during - len(synced))
	checkPts(t, append(synced, live...), 0)
}

func TestHistoryPaging(t *testing.T) {
	ts := newTestServer(t, nil)
	alice, _ := ts.login(t, "alice", "phone")
	for i := 1; i <= 25; i++ {
		alice.sendMsg("bob", fmt.Sprint("m", i), fmt.Sprintf(`{"n":%d}`, i))
	}
	bob, _ := ts.login(t, "bob", "phone")
	page := func(before uint64) frame {
		bob.write(map[string]any{"type": "history", "id": "h", "conv": "d:alice:bob", "before": before, "limit": 10})
		return bob.expect("history")
	}
	for _, tc := range []struct {
		before   uint64
		from, to uint64
		more     bool
	}{{0, 16, 25, true}, {16, 6, 15, true}, {6, 1, 5, false}} {
		f := page(tc.before)
		if len(f.Messages) != int(tc.to-tc.from+1) || f.More != tc.more {
			t.Fatalf("before %d: %d messages, more %v", tc.before, len(f.Messages), f.More)
		}
		for i, m := range f.Messages {
			if m.Seq != tc.from+uint64(i) || string(m.Body) != fmt.Sprintf(`{"n":%d}`, m.Seq) {
				t.Fatalf("before %d: message %d = %+v", tc.before, i, m)
			}
		}
	}
}

func TestUnreadAndReceipts(t *testing.T) {
	ts := newTestServer(t, nil)
	alicePhone := ts.online(t, "alice", "phone")
	aliceWeb := ts.online(t, "alice", "web")
	for i := 1; i <= 3; i++ {
		alicePhone.sendMsg("bob", fmt.Sprint("m", i), `{}`)
	}
	aliceWeb.entries(3)
	bobPhone := ts.online(t, "bob", "phone")
	bobTablet := ts.online(t, "bob", "tablet")

	convs := func(c *client) conversation {
		c.write(map[string]any{"type": "conversations", "id": "c"})
		f := c.expect("conversations")
		if len(f.Conversations) != 1 {
			t.Fatalf("conversations = %s", f.Raw)
		}
		return f.Conversations[0]
	}
	if c := convs(bobPhone); c.Unread != 3 || c.LastSeq != 3 || c.Last == nil || c.Last.Seq != 3 || c.Conv != "d:alice:bob" {
		t.Fatalf("bob's conversation = %+v", c)
	}
	if c := convs(alicePhone); c.Unread != 0 || c.PeerRead != 0 {
		t.Fatalf("alice's conversation = %+v", c)
	}

	bobPhone.write(map[string]any{"type": "read", "id": "r", "conv": "d:alice:bob", "seq": 2})
	if f := bobPhone.expect("marked"); f.Seq != 2 {
		t.Fatalf("marked = %s", f.Raw)
	}
	for name, c := range map[string]*client{"alice phone": alicePhone, "alice web": aliceWeb, "bob tablet": bobTablet} {
		f := c.expect("receipt")
		if f.Conv != "d:alice:bob" || f.User != "bob" || f.Seq != 2 {
			t.Fatalf("%s got receipt %s", name, f.Raw)
		}
	}
	if c := convs(bobTablet); c.Unread != 1 || c.ReadSeq != 2 {
		t.Fatalf("bob's conversation after read = %+v", c)
	}
	if c := convs(alicePhone); c.PeerRead != 2 {
		t.Fatalf("alice sees peer read %d, want 2", c.PeerRead)
	}
	// A read mark never moves back, and an old one sends no receipt.
	bobPhone.write(map[string]any{"type": "read", "id": "r", "conv": "d:alice:bob", "seq": 1})
	if f := bobPhone.expect("marked"); f.Seq != 2 {
		t.Fatalf("read mark moved back: %s", f.Raw)
	}
	bobPhone.write(map[string]any{"type": "read", "id": "r", "conv": "d:alice:bob", "seq": 9})
	bobPhone.expectError(CodeBadFrame)
	alicePhone.write(map[string]any{"type": "ping", "id": "p"})
	alicePhone.expect("pong") // no receipt came before it
}

func TestPresenceFollowsConnections(t *testing.T) {
	ts := newTestServer(t, nil)
	c, _ := ts.login(t, "alice", "phone")
	if !ts.presence.Online("alice", "phone") {
		t.Fatal("alice's phone not online after auth")
	}
	c.conn.Close(websocket.StatusNormalClosure, "bye")
	eventually(t, "alice's phone offline after disconnect", func() bool { return !ts.presence.Online("alice", "phone") })
}

func TestMissedPingsDropTheDevice(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.PingInterval = 20 * time.Millisecond
		c.PongTimeout = 50 * time.Millisecond
	})
	c, _ := ts.login(t, "alice", "phone")
	responsive := ts.online(t, "bob", "phone")
	go func() {
		// bob keeps reading, so his client answers pings.
		for {
			if _, err := responsive.read(); err != nil {
				return
			}
		}
	}()
	// alice's client stops reading, so it answers no pings.
	eventually(t, "the silent device dropped", func() bool { return !ts.presence.Online("alice", "phone") })
	if !ts.presence.Online("bob", "phone") {
		t.Fatal("a responsive device was dropped")
	}
	if _, err := c.read(); err == nil {
		t.Fatal("dropped connection still delivers frames")
	}
}

func TestSecondConnectionOfADeviceClosesTheFirst(t *testing.T) {
	ts := newTestServer(t, nil)
	first, _ := ts.login(t, "alice", "phone")
	second := ts.online(t, "alice", "phone")
	first.expectClose(CloseReplaced)
	if !ts.presence.Online("alice", "phone") {
		t.Fatal("replacing connection is not online")
	}
	bob, _ := ts.login(t, "bob", "phone")
	bob.sendMsg("alice", "x", `{}`)
	if es := second.entries(1); es[0].From != "bob" {
		t.Fatalf("second connection got %+v", es)
	}
}

func TestAuthFailures(t *testing.T) {
	ts := newTestServer(t, nil)
	past := time.Now().Add(-time.Hour)
	for _, tc := range []struct {
		name  string
		token string
	}{
		{"no token", ""},
		{"garbage", "not.a.jwt"},
		{"expired", signToken(t, jwt.SigningMethodHS256, testSecret, jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(past)})},
		{"no exp", signToken(t, jwt.SigningMethodHS256, testSecret, jwt.RegisteredClaims{Subject: "alice"})},
		{"not yet valid", signToken(t, jwt.SigningMethodHS256, testSecret, jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(2 * time.Hour)), NotBefore: jwt.NewNumericDate(time.Now().Add(time.Hour))})},
		{"wrong signature", signToken(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-another"), jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))})},
		{"alg none", signToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))})},
		{"HS512 not configured", signToken(t, jwt.SigningMethodHS512, testSecret, jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))})},
		{"bad user id", token(t, "bob:evil", time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.dial(t)
			c.write(map[string]any{"type": "auth", "id": "a", "token": tc.token, "device": "phone"})
			f := c.expectError(CodeUnauthorized)
			if f.ID != "a" {
				t.Fatalf("error id = %q", f.ID)
			}
			// Still connected, still not authenticated.
			c.write(map[string]any{"type": "sync", "id": "s", "after": 0})
			c.expectError(CodeUnauthorized)
			if ts.presence.Online("alice", "phone") {
				t.Fatal("failed auth made the device online")
			}
		})
	}
}

func TestNothingBeforeAuthAndAuthTimeout(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.AuthTimeout = 100 * time.Millisecond })
	authed := ts.online(t, "alice", "phone")
	c := ts.dial(t)
	c.write(map[string]any{"type": "send", "id": "1", "to": "bob", "cid": "x", "body": map[string]any{}})
	c.expectError(CodeUnauthorized)
	c.expectClose(CloseAuthTimeout)
	// The session that authenticated earlier outlived its auth timeout.
	authed.write(map[string]any{"type": "ping", "id": "p"})
	authed.expect("pong")
}

func TestTokenExpiryClosesTheSessionUnlessRenewed(t *testing.T) {
	ts := newTestServer(t, nil)
	short := func(user string) string { return token(t, user, 1500*time.Millisecond) }
	renewed := ts.dial(t)
	renewed.write(map[string]any{"type": "auth", "token": short("bob"), "device": "phone"})
	renewed.expect("authed")
	renewed.write(map[string]any{"type": "auth", "id": "x", "token": token(t, "carol", time.Hour), "device": "phone"})
	renewed.expectError(CodeForbidden)
	renewed.write(map[string]any{"type": "auth", "id": "r", "token": token(t, "bob", time.Hour)})
	if f := renewed.expect("authed"); f.User != "bob" {
		t.Fatalf("re-auth = %s", f.Raw)
	}

	// A session that never renews is closed; by then the renewed one's
	// first token has expired too.
	c := ts.dial(t)
	c.write(map[string]any{"type": "auth", "token": short("alice"), "device": "phone"})
	c.expect("authed")
	c.expectClose(CloseTokenExpired)
	renewed.write(map[string]any{"type": "ping", "id": "p"})
	renewed.expect("pong")
}

func TestCannotSendAsAnotherOrReadOthersConversations(t *testing.T) {
	ts := newTestServer(t, nil)
	alice := ts.online(t, "alice", "phone")
	bob := ts.online(t, "bob", "phone")
	alice.writeRaw(`{"type":"send","id":"1","to":"bob","cid":"c1","from":"carol","sender":"carol","body":{"text":"hi"}}`)
	alice.expect("ack")
	if e := bob.entries(1)[0]; e.From != "alice" || e.Device != "phone" || e.Conv != "d:alice:bob" {
		t.Fatalf("bob got %+v", e)
	}

	carol := ts.online(t, "carol", "phone")
	var messages []string
	for _, conv := range []string{"d:alice:bob", "d:carol:zed", "g:nothing"} {
		carol.write(map[string]any{"type": "history", "id": "h", "conv": conv})
		messages = append(messages, carol.expectError(CodeNotFound).Message)
		carol.write(map[string]any{"type": "read", "id": "r", "conv": conv, "seq": 1})
		messages = append(messages, carol.expectError(CodeNotFound).Message)
	}
	sort.Strings(messages)
	if messages[0] != messages[len(messages)-1] {
		t.Fatalf("not-a-member and not-found answer differently: %q", messages)
	}
	carol.write(map[string]any{"type": "conversations", "id": "c"})
	if f := carol.expect("conversations"); len(f.Conversations) != 0 {
		t.Fatalf("carol sees %s", f.Raw)
	}
}

func TestBadFramesKeepTheConnection(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxBody = 1024 })
	c := ts.online(t, "alice", "phone")
	for _, tc := range []struct {
		frame string
		code  Code
	}{
		{`not json`, CodeBadFrame},
		{`[1,2]`, CodeBadFrame},
		{`{"id":"1"}`, CodeBadFrame},
		{`{"type":"send"} {"type":"send"}`, CodeBadFrame},
		{`{"type":"teleport","id":"1"}`, CodeUnknownType},
		{`{"type":"ping","id":"1","colour":"red"}`, CodeBadFrame},
		{`{"type":"send","id":"1","to":"bob","cid":"x","body":"text"}`, CodeBadFrame},
		{`{"type":"send","id":"1","to":"bob","cid":"x"}`, CodeBadFrame},
		{`{"type":"send","id":"1","to":"","cid":"x","body":{}}`, CodeBadFrame},
		{`{"type":"send","id":"1","to":"bob","cid":"","body":{}}`, CodeBadFrame},
		{`{"type":"send","id":"1","to":"bob","cid":"x","body":{"a":1}`, CodeBadFrame},
		{`{"type":"send","id":"1","to":"bob","cid":"x","body":{"t":"` + strings.Repeat("x", 1100) + `"}}`, CodeTooLarge},
		{`{"type":"sync","id":"1"}`, CodeBadFrame},
		{`{"type":"sync","id":"1","after":-1}`, CodeBadFrame},
		{`{"type":"sync","id":"1","after":5}`, CodeBadFrame},
		{`{"type":"history","id":"1","conv":"d:a\"b"}`, CodeBadFrame},
		{`{"type":"received","id":"1"}`, CodeBadFrame},
	} {
		c.writeRaw(tc.frame)
		if f := c.expectError(tc.code); strings.Contains(tc.frame, `"id":"1"`) && tc.code != CodeBadFrame && f.ID != "1" {
			t.Errorf("%s: error id %q", tc.frame, f.ID)
		}
	}
	c.write(map[string]any{"type": "ping", "id": "still-here"})
	c.expect("pong")
	// Nothing was stored by any of them.
	c.write(map[string]any{"type": "conversations", "id": "c"})
	if f := c.expect("conversations"); len(f.Conversations) != 0 {
		t.Fatalf("bad frames stored something: %s", f.Raw)
	}
	// A frame over the read limit closes with 1009.
	c.writeRaw(`{"type":"send","id":"1","to":"bob","cid":"x","body":{"t":"` + strings.Repeat("x", 8000) + `"}}`)
	c.expectClose(CloseTooBig)
}

func TestForeignOriginIsRefused(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.OriginPatterns = []string{"app.example.com"} })
	ctx := t.Context()
	for origin, ok := range map[string]bool{"https://evil.example.net": false, "https://app.example.com": true} {
		h := map[string][]string{"Origin": {origin}}
		conn, resp, err := websocket.Dial(ctx, ts.url, &websocket.DialOptions{HTTPHeader: h})
		if ok != (err == nil) {
			t.Fatalf("origin %s: err = %v", origin, err)
		}
		if err == nil {
			conn.CloseNow()
		} else if resp == nil || resp.StatusCode != 403 {
			t.Fatalf("origin %s: response %v", origin, resp)
		}
	}
}

func TestRestartKeepsEveryAckedMessage(t *testing.T) {
	ts := newTestServer(t, nil)
	acks := map[uint64]frame{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := 0; i < 4; i++ {
		c, _ := ts.login(t, fmt.Sprint("s", i), "d")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				c.writeRaw(fmt.Sprintf(`{"type":"send","to":"bob","cid":"m%d","body":{"j":%d}}`, j, j))
			}
			for j := 0; j < 50; j++ {
				f := c.expect("ack")
				mu.Lock()
				acks[f.MsgID] = f
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	ts.restart()
	bob, f := ts.login(t, "bob", "phone")
	if f.Head != 200 {
		t.Fatalf("head after restart = %d", f.Head)
	}
	es := bob.syncFrom(0)
	checkPts(t, es, 0)
	for _, e := range es {
		a, ok := acks[e.ID]
		if !ok || a.Conv != e.Conv || a.Seq != e.Seq || a.TS != e.TS {
			t.Fatalf("entry %+v does not match an ack", e)
		}
		delete(acks, e.ID)
	}
	if len(acks) != 0 {
		t.Fatalf("%d acked messages missing after restart", len(acks))
	}
	// Sequences continue after the restart; none is reused.
	s0, _ := ts.login(t, "s0", "d")
	if a := s0.sendMsg("bob", "new", `{}`); a.Seq != 51 || a.Pts != 51 {
		t.Fatalf("ack after restart = %s", a.Raw)
	}
}

func TestShutdownAcksInFlightSendsThenClosesWithGoingAway(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.online(t, "alice", "phone")
	const n = 50
	for i := 0; i < n; i++ {
		c.writeRaw(fmt.Sprintf(`{"type":"send","id":"m%d","to":"bob","cid":"m%d","body":{}}`, i, i))
	}
	// Once the pong is back, the server has read every send: they are in
	// flight, and shutdown must ack each one before closing.
	c.writeRaw(`{"type":"ping","id":"p"}`)
	acks := 0
	for {
		f, err := c.read()
		if err != nil {
			t.Fatal(err)
		}
		if f.Type == "ack" {
			acks++
		}
		if f.Type == "pong" {
			break
		}
	}
	go ts.stop()
	for {
		f, err := c.read()
		if err != nil {
			if websocket.CloseStatus(err) != CloseGoingAway {
				t.Fatalf("closed with %v", err)
			}
			break
		}
		if f.Type == "ack" {
			acks++
		}
	}
	if acks != n {
		t.Fatalf("%d of %d in-flight sends acked before shutdown", acks, n)
	}
}

// A token minted for one device and platform logs in only there; a frame
// that names neither takes the token's.
func TestTokenBoundToADevice(t *testing.T) {
	ts := newTestServer(t, nil)
	bound := signToken(t, jwt.SigningMethodHS256, testSecret, tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		Device:           "phone", Platform: "ios",
	})
	for _, tc := range []struct{ device, platform string }{
		{"laptop", ""},
		{"phone", "android"},
	} {
		c := ts.dial(t)
		c.write(map[string]any{"type": "auth", "id": "a", "token": bound, "device": tc.device, "platform": tc.platform})
		c.expectError(CodeForbidden)
		if ts.presence.Online("alice", tc.device) {
			t.Fatalf("%s/%s logged in with a token for phone/ios", tc.device, tc.platform)
		}
	}
	c := ts.dial(t)
	c.write(map[string]any{"type": "auth", "id": "a", "token": bound})
	c.expect("authed")
	if !ts.presence.Online("alice", "phone") {
		t.Fatal("the token's device is not online")
	}
	// Renewing with a token for another device is refused.
	other := signToken(t, jwt.SigningMethodHS256, testSecret, tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		Device:           "tablet",
	})
	c.write(map[string]any{"type": "auth", "id": "b", "token": other})
	c.expectError(CodeForbidden)
}

// When a device of the recipient confirms it holds a direct message, its
// sender's devices are told (the second tick), once, and the conversation
// says so to a device that connects later.
func TestDeliveredReceipts(t *testing.T) {
	ts := newTestServer(t, nil)
	alice := ts.online(t, "alice", "phone")
	for i := 1; i <= 2; i++ {
		alice.sendMsg("bob", fmt.Sprint("m", i), `{}`)
	}
	bob, authed := ts.login(t, "bob", "phone")
	es := bob.syncFrom(authed.Cursor)
	if len(es) != 2 {
		t.Fatalf("bob synced %d entries", len(es))
	}
	bob.write(map[string]any{"type": "received", "id": "r", "pts": es[1].Pts})
	bob.expect("cursor")
	f := alice.expect("delivered")
	if f.Conv != "d:alice:bob" || f.Seq != 2 || f.By != "bob" {
		t.Fatalf("alice got %s", f.Raw)
	}
	// Another device confirming the same messages tells nobody again.
	tablet, authed := ts.login(t, "bob", "tablet")
	tablet.syncFrom(authed.Cursor)
	tablet.write(map[string]any{"type": "received", "id": "r", "pts": es[1].Pts})
	tablet.expect("cursor")
	alice.write(map[string]any{"type": "ping", "id": "p"})
	alice.expect("pong") // no second delivered came before it

	later := ts.online(t, "alice", "laptop")
	later.write(map[string]any{"type": "conversations", "id": "c"})
	c := later.expect("conversations").Conversations[0]
	if c.PeerDelivered != 2 || c.PeerRead != 0 {
		t.Fatalf("alice's conversation: delivered %d read %d, want 2 and 0", c.PeerDelivered, c.PeerRead)
	}
}
