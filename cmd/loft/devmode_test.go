package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// callJSON makes a request, with a bearer token if not empty, and decodes
// the JSON answer.
func callJSON(t testing.TB, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// With its generated dev secret, the server mints tokens for the web demo
// and shows each user what the push layer did on its offline devices.
func TestDevTokenAndPushInbox(t *testing.T) {
	addr, _ := startServe(t, t.TempDir())
	base := "http://" + addr
	code, bobTok := callJSON(t, "POST", base+"/dev/token", "", `{"user":"bob","device":"phone"}`)
	if code != 200 || bobTok["user"] != "bob" || bobTok["device"] != "phone" || bobTok["expires_at"] == "" {
		t.Fatalf("dev token: %d %v", code, bobTok)
	}
	if code, p := callJSON(t, "POST", base+"/dev/token", "", `{"user":"@system","device":"x"}`); code != 400 || p["field"] != "/user" {
		t.Fatalf("reserved user: %d %v", code, p)
	}
	if code, p := callJSON(t, "POST", base+"/dev/token", "", `{"user":"bob","device":"x","admin":true}`); code != 400 || !strings.Contains(p["detail"].(string), "admin") {
		t.Fatalf("unknown field: %d %v", code, p)
	}
	if code, _ := callJSON(t, "GET", base+"/dev/push-inbox", "not-a-token", ""); code != 401 {
		t.Fatalf("push inbox with a bad token: %d", code)
	}
	_, aliceTok := callJSON(t, "POST", base+"/dev/token", "", `{"user":"alice","device":"laptop"}`)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	registerThenLeave(t, ctx, addr, bobTok["token"].(string), "phone", "log", "demo-bob-phone")
	alice, err := dialClient(ctx, addr, aliceTok["token"].(string), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.close()
	alice.write(ctx, map[string]any{"type": "send", "id": "1", "to": "bob", "cid": "c1", "body": map[string]string{"text": "dinner at 8?"}})
	if f, err := alice.read(ctx); err != nil || f.Type != "ack" {
		t.Fatalf("send: %+v %v", f, err)
	}

	var pushed map[string]any
	var after float64
	for pushed == nil {
		if ctx.Err() != nil {
			t.Fatal("no push reached bob's inbox")
		}
		code, in := callJSON(t, "GET", base+"/dev/push-inbox?after="+jsonNum(after), bobTok["token"].(string), "")
		if code != 200 {
			t.Fatalf("push inbox: %d %v", code, in)
		}
		for _, e := range in["entries"].([]any) {
			e := e.(map[string]any)
			if e["status"] == "pushed" {
				pushed = e
			}
		}
		after = in["last"].(float64)
		time.Sleep(50 * time.Millisecond) // polling as the demo does, not a test clock
	}
	if pushed["device"] != "phone" || pushed["vendor"] != "log" || pushed["title"] != "alice" || pushed["body"] != "dinner at 8?" || pushed["badge"] != 1.0 || pushed["conv"] != "d:alice:bob" {
		t.Fatalf("pushed entry = %v", pushed)
	}
	// Alice's inbox says why her own devices were not pushed: nothing, as
	// she sent it.
	if _, in := callJSON(t, "GET", base+"/dev/push-inbox", aliceTok["token"].(string), ""); len(in["entries"].([]any)) != 0 {
		t.Fatalf("alice's inbox: %v", in)
	}
}

func jsonNum(f float64) string { b, _ := json.Marshal(f); return string(b) }

// With a configured secret there is no dev endpoint: nobody mints tokens
// (the demo's files answer 405 to a POST, 404 to a path they lack).
func TestNoDevEndpointsWithARealSecret(t *testing.T) {
	p := startLoft(t, t.TempDir())
	if code, _ := callJSON(t, "POST", "http://"+p.addr+"/dev/token", "", `{"user":"bob","device":"phone"}`); code != 404 && code != 405 {
		t.Fatalf("dev token with a real secret: %d", code)
	}
	if code, _ := callJSON(t, "GET", "http://"+p.addr+"/dev/push-inbox", "", ""); code != 404 {
		t.Fatalf("push inbox with a real secret: %d", code)
	}
}
