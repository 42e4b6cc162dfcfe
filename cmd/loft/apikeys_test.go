package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The real binary serves the HTTP API with the keys of --api-keys: a
// backend mints a token, and a message it sends reaches the user live.
func TestHTTPAPIThroughTheBinary(t *testing.T) {
	keys := writeFile(t, "keys.json", `[{"name":"backend","secret":"backend-secret-0123456789","scopes":["send","admin"]}]`)
	p := startLoft(t, t.TempDir(), "--api-keys", keys)
	call := func(method, path, body string) (int, map[string]any) {
		return callJSON(t, method, "http://"+p.addr+path, "backend-secret-0123456789", body)
	}
	if code, _ := call("GET", "/readyz", ""); code != 200 {
		t.Fatalf("readyz: %d", code)
	}
	code, tok := call("POST", "/v1/tokens", `{"user":"bob"}`)
	if code != 201 {
		t.Fatalf("tokens: %d %v", code, tok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bob, err := dialClient(ctx, p.addr, tok["token"].(string), "phone")
	if err != nil {
		t.Fatal(err)
	}
	defer bob.close()
	bob.write(ctx, map[string]any{"type": "sync", "id": "s", "after": 0})
	if f, err := bob.read(ctx); err != nil || f.Type != "synced" {
		t.Fatalf("sync: %+v %v", f, err)
	}
	if code, res := call("POST", "/v1/messages", `{"to":"bob","body":{"text":"welcome"}}`); code != 201 {
		t.Fatalf("messages: %d %v", code, res)
	}
	f, err := bob.read(ctx)
	if err != nil || f.Type != "messages" || len(f.Messages) != 1 || f.Messages[0].From != "@system" {
		t.Fatalf("bob got %+v, %v", f, err)
	}
}

// /metrics on the real binary counts what happened.
func TestMetricsThroughTheBinary(t *testing.T) {
	p := startLoft(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := dialClient(ctx, p.addr, mintToken(t, "alice"), "phone")
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.write(ctx, map[string]any{"type": "send", "id": "1", "to": "bob", "cid": "c1", "body": map[string]string{"text": "hi"}})
	if f, err := c.read(ctx); err != nil || f.Type != "ack" {
		t.Fatalf("send: %+v %v", f, err)
	}
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	io.Copy(&b, resp.Body)
	for _, want := range []string{"loft_connections 1", "loft_devices_online 1", "loft_messages_stored_total 1", "loft_ack_seconds_count 1", "loft_store_commit_seconds_count", "loft_push_queue_depth 0", `loft_webhook_deliveries_total{result="delivered"} 0`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
