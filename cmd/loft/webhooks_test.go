package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loftchat/loft/chat/events"
	"github.com/loftchat/loft/offlinepush/webhook"
)

// eventSink is an app endpoint for event webhooks: it checks signatures
// and keeps the events it got, by type, deduped by delivery and event id
// as docs/webhooks.md tells receivers to.
type eventSink struct {
	*httptest.Server
	mu         sync.Mutex
	byType     map[string][]map[string]any // guarded by mu
	ids        map[string]bool             // guarded by mu: event ids taken
	deliveries map[string]bool             // guarded by mu: delivery ids taken
}

func newEventSink(t *testing.T, secret string) *eventSink {
	s := &eventSink{byType: map[string][]map[string]any{}, ids: map[string]bool{}, deliveries: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte(secret), r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			t.Errorf("an event that does not verify: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var batch struct {
			Events []struct {
				ID   string
				Type string
				Time string
				Data map[string]any
			}
		}
		delivery := r.Header.Get(events.DeliveryIDHeader)
		if err := json.Unmarshal(body, &batch); err != nil || len(batch.Events) == 0 || delivery == "" {
			t.Errorf("delivery %q: %s: %v", delivery, body, err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.deliveries[delivery] {
			return // a retry of a delivery already taken
		}
		s.deliveries[delivery] = true
		for _, ev := range batch.Events {
			if ev.ID == "" || ev.Time == "" || s.ids[ev.ID] {
				t.Errorf("event %+v without an id or time, or twice", ev)
				continue
			}
			s.ids[ev.ID] = true
			s.byType[ev.Type] = append(s.byType[ev.Type], ev.Data)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// waitFor waits until an event of typ matching ok arrived, and returns it.
func (s *eventSink) waitFor(t *testing.T, typ string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.mu.Lock()
		for _, d := range s.byType[typ] {
			if ok(d) {
				s.mu.Unlock()
				return d
			}
		}
		got := s.byType[typ]
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no matching %s event; got %v", typ, got)
		}
		time.Sleep(10 * time.Millisecond) // polling what arrived, not a test clock
	}
}

func (s *eventSink) types() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for typ := range s.byType {
		out = append(out, typ)
	}
	return out
}

// The real binary POSTs signed events to the --webhooks endpoints: a
// stored message, a push the vendor refused, presence, and a kick from the
// HTTP API; an endpoint that asked for kicks only gets only those.
func TestEventWebhooksThroughTheBinary(t *testing.T) {
	const secret = "events-secret-0123456789"
	all := newEventSink(t, secret)
	kicks := newEventSink(t, secret)
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusGone) // the push vendor says the token is gone
	}))
	defer vendor.Close()
	hooks := writeFile(t, "webhooks.json", `{"endpoints":[
		{"url":"`+all.URL+`","secret":"`+secret+`"},
		{"url":"`+kicks.URL+`","secret":"`+secret+`","types":["device.kicked"]}]}`)
	push := writeFile(t, "push.json", `{"vendors":{"webhook":{"url":"`+vendor.URL+`","secret":"push-secret-0123456789"}}}`)
	keys := writeFile(t, "keys.json", `[{"name":"ops","secret":"ops-secret-0123456789","scopes":["admin"]}]`)
	p := startLoft(t, t.TempDir(), "--webhooks", hooks, "--push-config", push, "--push-grace", "200ms", "--api-keys", keys)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	registerThenLeave(t, ctx, p.addr, mintToken(t, "bob"), "phone", "webhook", "bob-phone-token")
	all.waitFor(t, "user.offline", func(d map[string]any) bool { return d["user"] == "bob" && d["last_seen"].(float64) > 0 })

	alice, err := dialClient(ctx, p.addr, mintToken(t, "alice"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.close()
	alice.write(ctx, map[string]any{"type": "send", "id": "1", "to": "bob", "cid": "c1", "body": map[string]string{"text": "dinner at 8?"}})
	if f, err := alice.read(ctx); err != nil || f.Type != "ack" {
		t.Fatalf("send: %+v %v", f, err)
	}
	all.waitFor(t, "user.online", func(d map[string]any) bool { return d["user"] == "alice" })
	stored := all.waitFor(t, "message.stored", func(d map[string]any) bool { return d["client_id"] == "c1" })
	if stored["conv"] != "d:alice:bob" || stored["from"] != "alice" || stored["seq"] != 1.0 || stored["body"].(map[string]any)["text"] != "dinner at 8?" {
		t.Fatalf("message.stored = %v", stored)
	}
	failed := all.waitFor(t, "push.failed", func(d map[string]any) bool { return d["user"] == "bob" })
	if failed["device"] != "phone" || failed["vendor"] != "webhook" || failed["token_removed"] != true {
		t.Fatalf("push.failed = %v", failed)
	}

	req, _ := http.NewRequest("POST", "http://"+p.addr+"/v1/users/alice/devices/laptop/kick", strings.NewReader(`{"unbind_push":false}`))
	req.Header.Set("Authorization", "Bearer ops-secret-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("kick: %v %v", resp, err)
	}
	resp.Body.Close()
	kicked := kicks.waitFor(t, "device.kicked", func(d map[string]any) bool { return d["user"] == "alice" })
	if kicked["device"] != "laptop" {
		t.Fatalf("device.kicked = %v", kicked)
	}
	all.waitFor(t, "device.kicked", func(d map[string]any) bool { return d["user"] == "alice" })
	if got := kicks.types(); len(got) != 1 {
		t.Fatalf("the kicks-only endpoint got %v", got)
	}
}

func TestWebhooksFileIsStrict(t *testing.T) {
	for _, bad := range []string{
		`{"endpoints":[{"url":"http://127.0.0.1:1/","secret":"0123456789abcdef","types":["message.sent"]}]}`,
		`{"endpoints":[{"url":"http://127.0.0.1:1/","secret":"0123456789abcdef","colour":"red"}]}`,
		`{"endpoints":[`,
	} {
		if _, err := loadWebhooks(writeFile(t, "w.json", bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
