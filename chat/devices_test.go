package chat

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/loftchat/loft/presence"
)

// loginOn authenticates user on device with platform.
func (ts *testServer) loginOn(tb testing.TB, user, device, platform string) (*client, frame) {
	tb.Helper()
	c := ts.dial(tb)
	c.user = user
	c.write(map[string]any{"type": "auth", "id": "a", "token": token(tb, user, time.Hour), "device": device, "platform": platform})
	return c, c.expect("authed")
}

func devicesOf(tb testing.TB, c *client) map[string]deviceJSON {
	tb.Helper()
	f := ok(tb, c.request(map[string]any{"type": "devices"}))
	var got struct {
		Devices []deviceJSON `json:"devices"`
	}
	if err := json.Unmarshal(f.Raw, &got); err != nil {
		tb.Fatal(err)
	}
	out := make(map[string]deviceJSON)
	for _, d := range got.Devices {
		out[d.Device] = d
	}
	return out
}

// A login over the class limit kicks the oldest session of the class, which
// is told why, closed with 4006, and recorded as kicked for the push layer.
func TestDeviceLimitKicksTheOldest(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.DeviceLimits = presence.Limits{presence.ClassMobile: 1} })
	old, _ := ts.loginOn(t, "alice", "phone1", "ios")
	desk, _ := ts.loginOn(t, "alice", "desk", "macos") // another class: untouched
	newer, _ := ts.loginOn(t, "alice", "phone2", "android")

	k := old.expect("kicked")
	if k.Reason != KickDeviceLimit || k.By != "phone2" {
		t.Fatalf("kicked frame = %s", k.Raw)
	}
	old.expectClose(CloseKicked)
	eventually(t, "phone1 offline", func() bool { return !ts.presence.Online("alice", "phone1") })
	// phone2's login was queued before phone1's kick, which was awaited.
	devs := devicesOf(t, newer)
	if d := devs["phone1"]; d.State != "kicked" || d.Online || d.Platform != "ios" {
		t.Fatalf("phone1 = %+v", d)
	}
	if d := devs["phone2"]; d.State != "active" || !d.Online || !d.Current {
		t.Fatalf("phone2 = %+v", d)
	}
	if d := devs["desk"]; !d.Online {
		t.Fatalf("desk = %+v", d)
	}
	ok(t, desk.request(map[string]any{"type": "ping"}))
}

// logout ends the device's session for good but keeps its cursor; a device
// can log another out remotely.
func TestLogout(t *testing.T) {
	ts := newTestServer(t, nil)
	bob := ts.online(t, "bob", "phone")
	alice, f := ts.login(t, "alice", "phone")
	alice.syncFrom(f.Cursor)
	bob.sendMsg("alice", "m1", `{"text":"hi"}`)
	es := alice.entries(1)
	ok(t, alice.request(map[string]any{"type": "received", "pts": es[0].Pts}))

	wantCode(t, alice.request(map[string]any{"type": "logout"}), CodeBadFrame) // unbind_push is required
	out := alice.request(map[string]any{"type": "logout", "unbind_push": true})
	if out.Type != "logged_out" {
		t.Fatalf("logout answered %s", out.Raw)
	}
	alice.expectClose(CloseLoggedOut)

	desk := ts.online(t, "alice", "desk")
	d := devicesOf(t, desk)["phone"]
	if d.State != "logged_out" || d.Online {
		t.Fatalf("phone after logout = %+v", d)
	}
	// A later login of the phone resumes from its cursor and is active again.
	phone, f := ts.login(t, "alice", "phone")
	if f.Cursor != es[0].Pts {
		t.Fatalf("cursor after logout = %d, want %d", f.Cursor, es[0].Pts)
	}
	// A login is recorded without waiting for the disk: soon, not at once.
	eventually(t, "phone active again", func() bool { return devicesOf(t, desk)["phone"].State == "active" })
	// The desk logs the phone out remotely: the phone is kicked.
	wantCode(t, desk.request(map[string]any{"type": "logout_device", "device": "nope", "unbind_push": false}), CodeNotFound)
	ok(t, desk.request(map[string]any{"type": "logout_device", "device": "phone", "unbind_push": false}))
	if k := phone.expect("kicked"); k.Reason != KickLoggedOut || k.By != "desk" {
		t.Fatalf("kicked = %s", k.Raw)
	}
	phone.expectClose(CloseKicked)
	if d := devicesOf(t, desk)["phone"]; d.State != "logged_out" {
		t.Fatalf("phone after remote logout = %+v", d)
	}
}
