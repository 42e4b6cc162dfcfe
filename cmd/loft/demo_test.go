package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// The binary serves the web demo at /, its module as JavaScript, under a
// policy that lets the page talk only to this server; the API keeps /v1/.
func TestDemoIsServed(t *testing.T) {
	p := startLoft(t, t.TempDir())
	base := "http://" + p.addr
	resp, body := get(t, base+"/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "<") {
		t.Fatalf("GET /: %d %s %.80q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
	if resp, _ := get(t, base+"/loft.js"); resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("GET /loft.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp, _ := get(t, base+"/v1/nothing-here"); resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("GET /v1/nothing-here: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp, _ := get(t, base+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("GET /healthz: %d", resp.StatusCode)
	}

	off := startLoft(t, t.TempDir(), "--demo=false")
	if resp, _ := get(t, "http://"+off.addr+"/"); resp.StatusCode != 404 {
		t.Fatalf("GET / with --demo=false: %d", resp.StatusCode)
	}
}
