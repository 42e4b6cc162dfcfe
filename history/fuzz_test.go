package history

import (
	"strings"
	"testing"
)

// FuzzDirectConv checks the conversation ids clients send (history, read):
// directMembers never panics, accepts only "d:" a ":" b with a and b
// non-empty and free of ':', and round-trips with DirectConv.
func FuzzDirectConv(f *testing.F) {
	f.Add("alice", "bob", "d:alice:bob")
	f.Fuzz(func(t *testing.T, a, b, conv string) {
		if members, ok := directMembers(conv); ok {
			if got := "d:" + members[0] + ":" + members[len(members)-1]; got != conv {
				t.Fatalf("directMembers(%q) = %q, which is %q", conv, members, got)
			}
			for _, m := range members {
				if m == "" || strings.Contains(m, ":") {
					t.Fatalf("directMembers(%q) = %q", conv, members)
				}
			}
		} else if members != nil {
			t.Fatalf("directMembers(%q) = %q, false", conv, members)
		}
		if a == "" || b == "" || strings.Contains(a, ":") || strings.Contains(b, ":") {
			return
		}
		c := DirectConv(a, b)
		if c != DirectConv(b, a) {
			t.Fatalf("DirectConv(%q, %q) = %q, but %q the other way", a, b, c, DirectConv(b, a))
		}
		members, ok := directMembers(c)
		lo, hi := min(a, b), max(a, b)
		want := []string{lo, hi}
		if lo == hi {
			want = want[:1]
		}
		if !ok || strings.Join(members, "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("directMembers(DirectConv(%q, %q)) = %q, %v; want %q", a, b, members, ok, want)
		}
	})
}
