package chat

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/offlinepush"
	"github.com/loftchat/loft/presence"
)

// pushRecorder is the one fake here: a push vendor, which cannot be reached
// from tests. It records what it is asked to send.
type pushRecorder struct {
	mu   sync.Mutex
	sent []offlinepush.Notification
}

func (r *pushRecorder) Name() string { return "test" }

func (r *pushRecorder) Send(_ context.Context, n *offlinepush.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, *n)
	return nil
}

func (r *pushRecorder) to(token string) []offlinepush.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []offlinepush.Notification
	for _, n := range r.sent {
		if n.Token == token {
			out = append(out, n)
		}
	}
	return out
}

// newPushServer runs the server with the push layer on its store and a
// recording vendor named "test".
func newPushServer(t *testing.T, adjust func(*offlinepush.Config), chatAdjust func(*Config)) (*testServer, *pushRecorder) {
	rec := &pushRecorder{}
	ts := &testServer{tb: t, dir: t.TempDir(), pushCfg: &offlinepush.Config{Vendors: []offlinepush.Vendor{rec}, Grace: 20 * time.Millisecond}}
	if adjust != nil {
		adjust(ts.pushCfg)
	}
	ts.start(chatAdjust)
	t.Cleanup(ts.stop)
	return ts, rec
}

// registerDevice logs user's device in, registers token and leaves.
func (ts *testServer) registerDevice(t *testing.T, user, device, platform, token string) {
	t.Helper()
	c, _ := ts.loginOn(t, user, device, platform)
	ok(t, c.request(map[string]any{"type": "push_register", "vendor": "test", "token": token}))
	c.conn.Close(websocket.StatusNormalClosure, "")
	eventually(t, device+" offline", func() bool { return !ts.presence.Online(user, device) })
}

// outcomes waits until every outcome of msgID is final and returns them as
// "device=status:reason" in device order.
func (ts *testServer) outcomes(t *testing.T, msgID uint64, want int) string {
	t.Helper()
	var got []string
	eventually(t, fmt.Sprintf("%d final outcomes of message %d", want, msgID), func() bool {
		os, err := ts.push.Outcomes(msgID)
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, o := range os {
			if o.Status == offlinepush.StatusQueued {
				return false
			}
			got = append(got, o.Device+"="+o.Status+":"+o.Reason)
		}
		return len(got) == want
	})
	sort.Strings(got)
	return strings.Join(got, " ")
}

// A user on three devices: the policy decides per device, over real
// connections and the real store.
func TestPushPolicyOverRealConnections(t *testing.T) {
	for _, tc := range []struct {
		when            string
		withDeskOnline  string
		withAllOffline  string
		pushesWhileDesk int
	}{
		{offlinepush.PushAllOffline, "desk=not_pushed:online phone=not_pushed:policy tablet=not_pushed:policy", "desk=not_pushed:no_token phone=pushed: tablet=pushed:", 0},
		{offlinepush.PushAnyOffline, "desk=not_pushed:online phone=pushed: tablet=pushed:", "desk=not_pushed:no_token phone=pushed: tablet=pushed:", 1},
	} {
		t.Run(tc.when, func(t *testing.T) {
			ts, rec := newPushServer(t, func(c *offlinepush.Config) { c.PushWhen = tc.when }, nil)
			ts.registerDevice(t, "bob", "phone", "android", "PHONE")
			ts.registerDevice(t, "bob", "tablet", "ios", "TABLET")
			alice := ts.online(t, "alice", "phone")
			desk := ts.online(t, "bob", "desk")

			m1 := alice.sendMsg("bob", "m1", `{"text":"are you there?"}`)
			desk.entries(1)
			if got := ts.outcomes(t, m1.MsgID, 3); got != tc.withDeskOnline {
				t.Fatalf("desk online: %s", got)
			}
			if n := len(rec.to("PHONE")); n != tc.pushesWhileDesk {
				t.Fatalf("%d pushes to the phone while the desk was online", n)
			}
			desk.conn.Close(websocket.StatusNormalClosure, "")
			eventually(t, "desk offline", func() bool { return !ts.presence.Online("bob", "desk") })
			m2 := alice.sendMsg("bob", "m2", `{"text":"call me"}`)
			if got := ts.outcomes(t, m2.MsgID, 3); got != tc.withAllOffline {
				t.Fatalf("all offline: %s", got)
			}
			n := rec.to("TABLET")
			last := n[len(n)-1]
			if last.Title != "alice" || last.Body != "call me" || last.CollapseKey != m2.Conv || last.Data["seq"] != fmt.Sprint(m2.Seq) || *last.Badge != 2 || last.Platform != "ios" {
				t.Fatalf("the tablet's push = %+v", last)
			}
		})
	}
}

// A device that reconnects within the grace period gets the message live
// and is not pushed.
func TestPushGraceForAReconnectingDevice(t *testing.T) {
	ts, rec := newPushServer(t, func(c *offlinepush.Config) { c.Grace = 500 * time.Millisecond }, nil)
	ts.registerDevice(t, "bob", "phone", "android", "PHONE")
	alice := ts.online(t, "alice", "phone")
	m := alice.sendMsg("bob", "m1", `{"text":"hi"}`)
	phone, f := ts.login(t, "bob", "phone") // back within the grace period
	if es := phone.syncFrom(f.Cursor); len(es) != 1 || es[0].ID != m.MsgID {
		t.Fatalf("the phone synced %+v", es)
	}
	if got := ts.outcomes(t, m.MsgID, 1); got != "phone=not_pushed:online" {
		t.Fatalf("outcome: %s", got)
	}
	if n := len(rec.to("PHONE")); n != 0 {
		t.Fatalf("%d pushes to a device that came back", n)
	}
}

// The multi-account problem: after A logs out with unbind and B logs in on
// the same phone, nothing meant for A reaches that phone. Logging out
// without unbind keeps the pushes coming; a kicked device gets none.
func TestPushUnbindKeepRebindAndKick(t *testing.T) {
	ts, rec := newPushServer(t, nil, func(c *Config) { c.DeviceLimits = presence.Limits{presence.ClassMobile: 1} })
	alice := ts.online(t, "zed", "laptop") // the sender

	// anna logs out of the phone with unbind; ben logs in on it.
	anna, _ := ts.loginOn(t, "anna", "phone", "android")
	ok(t, anna.request(map[string]any{"type": "push_register", "vendor": "test", "token": "SHARED"}))
	ok(t, anna.request(map[string]any{"type": "logout", "unbind_push": true}))
	eventually(t, "anna offline", func() bool { return !ts.presence.Online("anna", "phone") })
	ts.registerDevice(t, "ben", "phone", "android", "SHARED")
	toAnna := alice.sendMsg("anna", "a1", `{"text":"for anna"}`)
	toBen := alice.sendMsg("ben", "b1", `{"text":"for ben"}`)
	if got := ts.outcomes(t, toAnna.MsgID, 1); got != "phone=not_pushed:logged_out" {
		t.Fatalf("anna: %s", got)
	}
	ts.outcomes(t, toBen.MsgID, 1)
	for _, n := range rec.to("SHARED") {
		if n.Body == "for anna" {
			t.Fatal("anna's message was pushed to the phone ben uses")
		}
	}
	if len(rec.to("SHARED")) != 1 {
		t.Fatalf("pushes to the shared phone: %+v", rec.to("SHARED"))
	}

	// Without unbind, the token stays: the app is closed but logged in.
	cleo, _ := ts.loginOn(t, "cleo", "phone", "android")
	ok(t, cleo.request(map[string]any{"type": "push_register", "vendor": "test", "token": "CLEO"}))
	ok(t, cleo.request(map[string]any{"type": "logout", "unbind_push": false}))
	eventually(t, "cleo offline", func() bool { return !ts.presence.Online("cleo", "phone") })
	m := alice.sendMsg("cleo", "c1", `{"text":"still here?"}`)
	if got := ts.outcomes(t, m.MsgID, 1); got != "phone=pushed:" {
		t.Fatalf("cleo after a logout without unbind: %s", got)
	}

	// A token registered by another user moves to it (the last bind wins).
	ts.registerDevice(t, "dora", "phone", "android", "CLEO")
	alice.sendMsg("cleo", "c2", `{"text":"again"}`) // cleo has no token left: nothing to push
	m = alice.sendMsg("dora", "d1", `{"text":"for dora"}`)
	if got := ts.outcomes(t, m.MsgID, 1); got != "phone=pushed:" {
		t.Fatalf("dora: %s", got)
	}
	for _, n := range rec.to("CLEO") {
		if n.Body == "again" {
			t.Fatal("cleo's message went to the token dora holds now")
		}
	}

	// A kicked device loses its token.
	phone1, _ := ts.loginOn(t, "eve", "phone1", "android")
	ok(t, phone1.request(map[string]any{"type": "push_register", "vendor": "test", "token": "EVE1"}))
	phone2, _ := ts.loginOn(t, "eve", "phone2", "ios") // kicks phone1 (mobile limit 1)
	phone1.expect("kicked")
	phone2.conn.Close(websocket.StatusNormalClosure, "")
	eventually(t, "eve offline", func() bool { return len(ts.presence.Devices(nil, "eve")) == 0 })
	m = alice.sendMsg("eve", "e1", `{"text":"hi eve"}`)
	if got := ts.outcomes(t, m.MsgID, 2); got != "phone1=not_pushed:kicked phone2=not_pushed:no_token" {
		t.Fatalf("eve: %s", got)
	}
}

// Settings and mutes are set over the protocol, reach the user's other
// devices, and decide what is pushed.
func TestPushSettingsMuteMentionAndDisplay(t *testing.T) {
	ts, rec := newPushServer(t, nil, nil)
	ts.registerDevice(t, "bob", "phone", "android", "PHONE")
	alice := ts.online(t, "alice", "phone")
	desk := ts.online(t, "bob", "desk")
	other := ts.online(t, "bob", "web")

	// DND from the desk; the web tab hears of it.
	ok(t, desk.request(map[string]any{"type": "push_settings", "settings": map[string]any{"dnd": true}}))
	if f := other.expect("push_settings"); !strings.Contains(string(f.Raw), `"dnd":true`) {
		t.Fatalf("the other device got %s", f.Raw)
	}
	desk.conn.Close(websocket.StatusNormalClosure, "")
	other.conn.Close(websocket.StatusNormalClosure, "")
	eventually(t, "bob offline", func() bool { return len(ts.presence.Devices(nil, "bob")) == 0 })
	m := alice.sendMsg("bob", "m1", `{"text":"hi"}`)
	if got := ts.outcomes(t, m.MsgID, 3); !strings.Contains(got, "phone=not_pushed:dnd") {
		t.Fatalf("DND: %s", got)
	}

	// No DND, a summary display, and a muted group that mentions bob.
	web := ts.online(t, "bob", "web")
	ok(t, web.request(map[string]any{"type": "push_settings", "settings": map[string]any{"display": "summary"}}))
	wantCode(t, web.request(map[string]any{"type": "push_settings", "settings": map[string]any{"display": "loud"}}), CodeBadFrame)
	conv := createGroup(t, alice, "lunch", "bob")
	ok(t, web.request(map[string]any{"type": "mute", "conv": conv, "muted": true}))
	web.conn.Close(websocket.StatusNormalClosure, "")
	eventually(t, "bob offline", func() bool { return len(ts.presence.Devices(nil, "bob")) == 0 })

	plain := ok(t, sendTo(alice, conv, "g1", `{"text":"pizza?"}`))
	if got := ts.outcomes(t, plain.MsgID, 3); !strings.Contains(got, "phone=not_pushed:muted") {
		t.Fatalf("muted group: %s", got)
	}
	mention := ok(t, sendTo(alice, conv, "g2", `{"text":"@bob pizza?","mentions":["bob"]}`))
	if got := ts.outcomes(t, mention.MsgID, 3); !strings.Contains(got, "phone=pushed:") {
		t.Fatalf("a mention in a muted group: %s", got)
	}
	n := rec.to("PHONE")
	if last := n[len(n)-1]; last.Title != "New message" || strings.Contains(last.Body, "pizza") {
		t.Fatalf("summary display pushed %+v", last)
	}
}

// Reading on one device clears the pushes shown on the others, and an
// opened push is recorded.
func TestPushReadClearsAndOpened(t *testing.T) {
	ts, rec := newPushServer(t, nil, nil)
	ts.registerDevice(t, "bob", "phone", "android", "PHONE")
	alice := ts.online(t, "alice", "phone")
	m := alice.sendMsg("bob", "m1", `{"text":"one"}`)
	ts.outcomes(t, m.MsgID, 1)
	if n := rec.to("PHONE"); len(n) != 1 || *n[0].Badge != 1 {
		t.Fatalf("first push: %+v", n)
	}
	desk := ts.online(t, "bob", "desk")
	ok(t, desk.request(map[string]any{"type": "read", "conv": m.Conv, "seq": m.Seq}))
	eventually(t, "a clearing push to the phone", func() bool { return len(rec.to("PHONE")) == 2 })
	clear := rec.to("PHONE")[1]
	if !clear.Silent || *clear.Badge != 0 || clear.Data["type"] != "read" || clear.CollapseKey != m.Conv {
		t.Fatalf("clearing push = %+v", clear)
	}

	phone := ts.online(t, "bob", "phone")
	ok(t, phone.request(map[string]any{"type": "push_opened", "msg_id": m.MsgID}))
	os, _ := ts.push.Outcomes(m.MsgID)
	if len(os) != 1 || !os[0].Opened {
		t.Fatalf("outcomes after opening: %+v", os)
	}
	wantCode(t, phone.request(map[string]any{"type": "push_opened", "msg_id": 9999}), CodeNotFound)
	wantCode(t, phone.request(map[string]any{"type": "push_register", "vendor": "nope", "token": "x"}), CodeBadFrame)
}

// A crash between the commit and the push layer's decision loses no push:
// the message is marked in its own batch and handed over again on start.
func TestPushSurvivesARestartBeforeTheDecision(t *testing.T) {
	ts, rec := newPushServer(t, func(c *offlinepush.Config) { c.Grace = time.Hour }, nil)
	ts.registerDevice(t, "bob", "phone", "android", "PHONE")
	alice := ts.online(t, "alice", "phone")
	m := alice.sendMsg("bob", "m1", `{"text":"before the crash"}`)
	ts.stop() // an hour of grace: nothing was decided
	if n := len(rec.to("PHONE")); n != 0 {
		t.Fatalf("%d pushes before the restart", n)
	}
	ts.pushCfg.Grace = 10 * time.Millisecond
	ts.start(nil)
	if got := ts.outcomes(t, m.MsgID, 1); got != "phone=pushed:" {
		t.Fatalf("after the restart: %s", got)
	}
	var pending int
	ts.store.Pending(func(history.Appended) error { pending++; return nil })
	if pending != 0 {
		t.Fatalf("%d messages still marked after the decision", pending)
	}
}

// Quiet hours are kept in the user's time zone.
func TestPushQuietHours(t *testing.T) {
	night := time.Date(2026, 11, 23, 22, 30, 0, 0, time.UTC) // 23:30 in Paris
	start := time.Now()
	ts, rec := newPushServer(t, func(c *offlinepush.Config) {
		c.Now = func() time.Time { return night.Add(time.Since(start)) }
	}, nil)
	ts.registerDevice(t, "bob", "phone", "android", "PHONE")
	desk := ts.online(t, "bob", "desk")
	ok(t, desk.request(map[string]any{"type": "push_settings", "settings": map[string]any{"quiet_start": "23:00", "quiet_end": "07:00", "tz": "Europe/Paris"}}))
	wantCode(t, desk.request(map[string]any{"type": "push_settings", "settings": map[string]any{"quiet_start": "23:00", "quiet_end": "07:00", "tz": "Mars/Olympus"}}), CodeBadFrame)
	desk.conn.Close(websocket.StatusNormalClosure, "")
	eventually(t, "bob offline", func() bool { return len(ts.presence.Devices(nil, "bob")) == 0 })
	alice := ts.online(t, "alice", "phone")
	m := alice.sendMsg("bob", "m1", `{"text":"you up?"}`)
	if got := ts.outcomes(t, m.MsgID, 2); got != "desk=not_pushed:no_token phone=not_pushed:dnd" {
		t.Fatalf("at 23:30 in Paris: %s", got)
	}
	ok(t, alice.request(map[string]any{"type": "ping"}))
	if n := len(rec.to("PHONE")); n != 0 {
		t.Fatalf("%d pushes in quiet hours", n)
	}
}
