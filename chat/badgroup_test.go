package chat

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// Bad input to the frames of groups, changes, presence and devices: each
// gets its documented code and message, and changes nothing.
func TestBadGroupAndDeviceFrames(t *testing.T) {
	ts := newTestServer(t, nil)
	alice := ts.online(t, "alice", "phone")
	conv := createGroup(t, alice, "g", "bob")
	dm := alice.sendMsg("bob", "m1", `{"text":"hi"}`)
	tooMany := make([]string, 1001)
	for i := range tooMany {
		tooMany[i] = fmt.Sprint("u", i)
	}
	cases := []struct {
		name  string
		frame map[string]any
		code  Code
	}{
		{"create without cid", map[string]any{"type": "group_create", "name": "x"}, CodeBadFrame},
		{"create without name", map[string]any{"type": "group_create", "cid": "c1"}, CodeBadFrame},
		{"create with a long name", map[string]any{"type": "group_create", "cid": "c2", "name": strings.Repeat("n", 129)}, CodeBadFrame},
		{"create with a bad user", map[string]any{"type": "group_create", "cid": "c3", "name": "x", "users": []string{"bad user"}}, CodeBadFrame},
		{"create naming its id", map[string]any{"type": "group_create", "cid": "c4", "name": "x", "conv": "g:mine"}, CodeBadFrame},
		{"create with 1001 users", map[string]any{"type": "group_create", "cid": "c5", "name": "x", "users": tooMany}, CodeTooMany},
		{"add to a direct conversation", map[string]any{"type": "group_add", "cid": "c6", "conv": dm.Conv, "users": []string{"x"}}, CodeBadFrame},
		{"add to an unknown group", map[string]any{"type": "group_add", "cid": "c7", "conv": "g:nosuchgroup", "users": []string{"x"}}, CodeNotFound},
		{"add nobody", map[string]any{"type": "group_add", "cid": "c8", "conv": conv}, CodeBadFrame},
		{"add a member again", map[string]any{"type": "group_add", "cid": "c9", "conv": conv, "users": []string{"bob"}}, CodeBadFrame},
		{"remove oneself", map[string]any{"type": "group_remove", "cid": "c10", "conv": conv, "users": []string{"alice"}}, CodeForbidden},
		{"role owner", map[string]any{"type": "group_role", "cid": "c11", "conv": conv, "users": []string{"bob"}, "role": "owner"}, CodeBadFrame},
		{"members of a group of others", map[string]any{"type": "group_members", "conv": "g:nosuchgroup"}, CodeNotFound},
		{"receipts of a direct conversation", map[string]any{"type": "receipts", "conv": dm.Conv, "seq": 1}, CodeBadFrame},
		{"receipts without seq", map[string]any{"type": "receipts", "conv": conv}, CodeBadFrame},
		{"receipts of a missing message", map[string]any{"type": "receipts", "conv": conv, "seq": 99}, CodeNotFound},
		{"send to both", map[string]any{"type": "send", "cid": "s1", "to": "bob", "conv": conv, "body": map[string]any{}}, CodeBadFrame},
		{"send to neither", map[string]any{"type": "send", "cid": "s2", "body": map[string]any{}}, CodeBadFrame},
		{"recall without seq", map[string]any{"type": "recall", "cid": "r1", "conv": dm.Conv}, CodeBadFrame},
		{"recall with a body", map[string]any{"type": "recall", "cid": "r2", "conv": dm.Conv, "seq": dm.Seq, "body": map[string]any{}}, CodeBadFrame},
		{"recall a missing message", map[string]any{"type": "recall", "cid": "r3", "conv": dm.Conv, "seq": 99}, CodeNotFound},
		{"recall an event", map[string]any{"type": "recall", "cid": "r4", "conv": conv, "seq": 1}, CodeBadFrame},
		{"edit without body", map[string]any{"type": "edit", "cid": "e1", "conv": dm.Conv, "seq": dm.Seq}, CodeBadFrame},
		{"edit with a string body", map[string]any{"type": "edit", "cid": "e2", "conv": dm.Conv, "seq": dm.Seq, "body": "text"}, CodeBadFrame},
		{"delete in a direct conversation", map[string]any{"type": "delete", "cid": "d1", "conv": dm.Conv, "seq": dm.Seq}, CodeForbidden},
		{"presence_sub of nobody", map[string]any{"type": "presence_sub", "users": []string{}}, CodeBadFrame},
		{"presence_sub of 1001", map[string]any{"type": "presence_sub", "users": tooMany}, CodeBadFrame},
		{"typing with a bad state", map[string]any{"type": "typing", "conv": dm.Conv, "state": "maybe"}, CodeBadFrame},
		{"typing in a group of others", map[string]any{"type": "typing", "conv": "g:nosuchgroup"}, CodeNotFound},
		{"logout without unbind_push", map[string]any{"type": "logout"}, CodeBadFrame},
		{"logout_device of itself", map[string]any{"type": "logout_device", "device": "phone", "unbind_push": true}, CodeBadFrame},
		{"logout_device of an unknown device", map[string]any{"type": "logout_device", "device": "nope", "unbind_push": true}, CodeNotFound},
	}
	for _, tc := range cases {
		f := alice.request(tc.frame)
		if f.Type != "error" || f.Code != string(tc.code) || f.Message == "" {
			b, _ := json.Marshal(tc.frame)
			t.Errorf("%s: %s answered %s, want %s", tc.name, b, f.Raw, tc.code)
		}
	}
	// Nothing above changed the group or the conversation.
	m := ok(t, alice.request(map[string]any{"type": "group_members", "conv": conv}))
	if !strings.Contains(string(m.Raw), `"members":[{"user":"alice","role":"owner"},{"user":"bob","role":"member"}]`) {
		t.Fatalf("members after bad frames = %s", m.Raw)
	}
	convs := alice.request(map[string]any{"type": "conversations"}).Conversations
	for _, c := range convs {
		if c.LastSeq != 1 {
			t.Fatalf("conversation %s moved to seq %d", c.Conv, c.LastSeq)
		}
	}
}
