package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loftchat/loft/offlinepush/webhook"
)

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPushConfigFile(t *testing.T) {
	good := writeFile(t, "push.json", `{"vendors":{
		"huawei":{"app_id":"1","app_secret":"s"},
		"huawei@lite":{"app_id":"2","app_secret":"s2"},
		"webhook":{"url":"http://127.0.0.1:1/push","secret":"0123456789abcdef0123"}},
		"templates":{"direct":{"fr":{"title":"{sender}","body":"{text}"}}}}`)
	vendors, templates, err := pushVendors(config{PushConfig: good, PushVendors: "log"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range vendors {
		names = append(names, v.Name())
	}
	if strings.Join(names, ",") != "huawei,log,webhook" || templates["direct"]["fr"].Title != "{sender}" {
		t.Fatalf("vendors %v, templates %v", names, templates)
	}
	for name, content := range map[string]string{
		"unknown vendor":  `{"vendors":{"pigeon":{}}}`,
		"unknown field":   `{"vendors":{"huawei":{"app_id":"1","app_secret":"s","colour":"red"}}}`,
		"missing secret":  `{"vendors":{"huawei":{"app_id":"1"}}}`,
		"missing key":     `{"vendors":{"apns":{"key_file":"/nonexistent.p8","key_id":"k","team_id":"t","topic":"x"}}}`,
		"unknown section": `{"vendor":{}}`,
	} {
		if _, _, err := pushVendors(config{PushConfig: writeFile(t, "bad.json", content)}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The real binary pushes to an offline user through the webhook vendor:
// a signed POST reaches the app's endpoint.
func TestWebhookPushThroughTheBinary(t *testing.T) {
	const secret = "webhook-secret-0123456789"
	got := make(chan webhook.Payload, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte(secret), r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			t.Errorf("a webhook push that does not verify: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p webhook.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("webhook body %s: %v", body, err)
		}
		got <- p
	}))
	defer hook.Close()
	cfg := writeFile(t, "push.json", `{"vendors":{"webhook":{"url":"`+hook.URL+`/push","secret":"`+secret+`"}}}`)
	p := startLoft(t, t.TempDir(), "--push-config", cfg, "--push-grace", "1s")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	registerThenLeave(t, ctx, p.addr, mintToken(t, "bob"), "phone", "webhook", "bob-phone-token") // offline well within the second of grace

	alice, err := dialClient(ctx, p.addr, mintToken(t, "alice"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.close()
	alice.write(ctx, map[string]any{"type": "send", "id": "1", "to": "bob", "cid": "c1", "body": map[string]string{"text": "dinner at 8?"}})
	select {
	case p := <-got:
		if p.Token != "bob-phone-token" || p.Title != "alice" || p.Body != "dinner at 8?" || p.Data["conv"] != "d:alice:bob" || p.Badge == nil || *p.Badge != 1 {
			t.Fatalf("webhook push = %+v", p)
		}
	case <-ctx.Done():
		t.Fatal("no push reached the webhook")
	}
}
