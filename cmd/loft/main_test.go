package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/loftchat/loft/presence"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// startServe runs the server on a free port until the test ends or stop is
// called; it returns the address and a stop function that waits for exit.
func startServe(t *testing.T, dataDir string) (addr string, stop func() error) {
	t.Helper()
	cfg, err := parseConfig("loft", []string{"--listen", "127.0.0.1:0", "--data", dataDir, "--log-level", "warn"}, envMap(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, &bytes.Buffer{}, func(a string) { ready <- a }) }()
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return addr, stop
}

func tokenFor(t *testing.T, dataDir, user string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(t.Context(), []string{"token", user, "--data", dataDir}, envMap(nil), &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("loft token: %v", err)
	}
	return strings.TrimSpace(out.String())
}

type wsFrame struct {
	Type     string `json:"type"`
	User     string `json:"user"`
	Code     string `json:"code"`
	Seq      uint64 `json:"seq"`
	Messages []struct {
		Body json.RawMessage `json:"body"`
	} `json:"messages"`
}

func exchange(t *testing.T, conn *websocket.Conn, send string, want string) wsFrame {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, []byte(send)); err != nil {
		t.Fatal(err)
	}
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		var f wsFrame
		json.Unmarshal(data, &f)
		if f.Type == want {
			return f
		}
		if f.Type == "error" {
			t.Fatalf("waiting for %s: %s", want, data)
		}
	}
}

func login(t *testing.T, addr, tok, device string) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.Dial(t.Context(), "ws://"+addr+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	exchange(t, conn, `{"type":"auth","token":"`+tok+`","device":"`+device+`"}`, "authed")
	return conn
}

// The README's walkthrough: a token from `loft token`, a message, a restart.
func TestTokenServeRestart(t *testing.T) {
	dir := t.TempDir()
	alice := tokenFor(t, dir, "alice") // generates the dev secret
	addr, stop := startServe(t, dir)
	if tokenFor(t, dir, "alice") == "" {
		t.Fatal("empty token")
	}
	conn := login(t, addr, alice, "laptop")
	if f := exchange(t, conn, `{"type":"send","to":"bob","cid":"1","body":{"text":"hello"}}`, "ack"); f.Seq != 1 {
		t.Fatalf("ack seq %d", f.Seq)
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	addr, _ = startServe(t, dir)
	bob := login(t, addr, tokenFor(t, dir, "bob"), "phone")
	exchange(t, bob, `{"type":"sync","after":0}`, "messages")
}

func TestSecondServerOnSameDataDirRefuses(t *testing.T) {
	dir := t.TempDir()
	startServe(t, dir)
	cfg, _ := parseConfig("loft", []string{"--listen", "127.0.0.1:0", "--data", dir}, envMap(nil), &bytes.Buffer{})
	err := serve(t.Context(), cfg, &bytes.Buffer{}, func(string) { t.Error("second server started") })
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second server: %v", err)
	}
}

func TestHelpListsEveryFlagWithItsVariable(t *testing.T) {
	var out bytes.Buffer
	err := run(t.Context(), []string{"--help"}, envMap(nil), &out, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"-listen, LOFT_LISTEN", "-data, LOFT_DATA", "-jwt-public-key, LOFT_JWT_PUBLIC_KEY",
		"-max-body, LOFT_MAX_BODY", "-retention-max-age, LOFT_RETENTION_MAX_AGE", "-origins, LOFT_ORIGINS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	env := envMap(map[string]string{"LOFT_MAX_BODY": "100", "LOFT_LISTEN": "127.0.0.1:9999", "LOFT_PING_INTERVAL": "5s"})
	cfg, err := parseConfig("loft", []string{"--listen", "127.0.0.1:7777"}, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxBody != 100 || cfg.Listen != "127.0.0.1:7777" || cfg.PingInterval != 5*time.Second {
		t.Fatalf("config = %+v", cfg)
	}
	if _, err := parseConfig("loft", nil, envMap(map[string]string{"LOFT_MAX_BODY": "lots"}), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "LOFT_MAX_BODY") {
		t.Fatalf("bad variable: %v", err)
	}
	if _, err := parseConfig("loft", []string{"--colour"}, envMap(nil), &bytes.Buffer{}); err == nil {
		t.Fatal("unknown flag accepted")
	}
}

func TestTokenNeedsAUser(t *testing.T) {
	err := run(t.Context(), []string{"token", "--data", t.TempDir()}, envMap(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil {
		t.Fatal("token without a user succeeded")
	}
	err = run(t.Context(), []string{"token", "bad:user", "--data", t.TempDir()}, envMap(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil {
		t.Fatal("token for an invalid user id succeeded")
	}
}

func TestPprofOnlyOnLoopback(t *testing.T) {
	log, _ := newLogger("error", &bytes.Buffer{})
	if _, err := servePprof("0.0.0.0:0", log); err == nil {
		t.Fatal("pprof accepted a public address")
	}
	stop, err := servePprof("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	stop()
}

func TestDeviceLimitsFlag(t *testing.T) {
	limits, err := parseLimits("mobile=2, web=0,other=3")
	if err != nil || limits[presence.ClassMobile] != 2 || limits[presence.ClassWeb] != 0 || limits[presence.ClassOther] != 3 {
		t.Fatalf("parseLimits = %v, %v", limits, err)
	}
	for _, bad := range []string{"phone=1", "mobile", "mobile=-1", "web=x"} {
		if _, err := parseLimits(bad); err == nil {
			t.Errorf("parseLimits(%q) accepted", bad)
		}
	}
}
