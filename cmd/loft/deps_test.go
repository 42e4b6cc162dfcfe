package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection enforces the package boundaries: nothing imports cmd,
// history, presence and offlinepush never import chat, offlinepush never
// imports history or presence, and a push vendor imports no other vendor.
func TestImportDirection(t *testing.T) {
	const mod = "github.com/loftchat/loft/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Deps " "}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ":")
		for _, dep := range strings.Fields(deps) {
			if !strings.HasPrefix(dep, mod) {
				continue
			}
			rel, from := strings.TrimPrefix(dep, mod), strings.TrimPrefix(pkg, mod)
			if strings.HasPrefix(rel, "cmd/") {
				t.Errorf("%s imports %s: nothing may import cmd", pkg, dep)
			}
			if strings.HasPrefix(from, "offlinepush") && (strings.HasPrefix(rel, "history") || strings.HasPrefix(rel, "presence")) {
				t.Errorf("%s imports %s: the push layer reaches the store through its own interfaces", pkg, dep)
			}
			if vf, ok := strings.CutPrefix(from, "offlinepush/"); ok {
				if vr, ok := strings.CutPrefix(rel, "offlinepush/"); ok && vr != vf {
					t.Errorf("%s imports %s: a vendor never imports another", pkg, dep)
				}
			}
			for _, low := range []string{"history", "presence", "offlinepush"} {
				if (from == low || strings.HasPrefix(from, low+"/")) && (rel == "chat" || strings.HasPrefix(rel, "chat/")) {
					t.Errorf("%s imports %s: %s must not depend on chat", pkg, dep, low)
				}
			}
		}
	}
}
