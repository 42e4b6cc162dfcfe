package offlinepush

import (
	"errors"
	"strings"
	"testing"
)

func TestParseExpr(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"vip", "vip"},
		{"vip AND (beta OR NOT churned)", "vip AND (beta OR NOT churned)"},
		{"a or b and c", "a OR b AND c"},             // AND binds tighter
		{"(a or b) and c", "(a OR b) AND c"},         // parentheses kept where needed
		{"not a and b", "NOT a AND b"},               // NOT binds tighter than AND
		{"not (a and b)", "NOT (a AND b)"},           //
		{"NOT NOT a", "NOT NOT a"},                   //
		{"a AND (b AND c)", "a AND b AND c"},         // flattened
		{"(a OR b) OR (c OR d)", "a OR b OR c OR d"}, //
		{"((a))", "a"},                                   //
		{" a\tAnd\nb ", "a AND b"},                       // case-insensitive operators, any space
		{"v1.2:x_y-z", "v1.2:x_y-z"},                     // every tag character
		{"a AND (b OR c) AND d", "a AND (b OR c) AND d"}, //
		{"Vip OR vip", "Vip OR vip"},                     // tags are case sensitive
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e, err := ParseExpr(tt.in)
			if err != nil {
				t.Fatalf("ParseExpr(%q): %v", tt.in, err)
			}
			if got := e.String(); got != tt.want {
				t.Fatalf("ParseExpr(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
			again, err := ParseExpr(e.String())
			if err != nil || again.String() != tt.want {
				t.Fatalf("round trip of %q: %v, %v", tt.want, again, err)
			}
		})
	}
}

func TestParseExprPrecedence(t *testing.T) {
	tests := []struct {
		expr string
		tags string // held tags, space separated
		want bool
	}{
		{"a OR b AND c", "a", true},    // a OR (b AND c)
		{"(a OR b) AND c", "a", false}, //
		{"NOT a AND b", "b", true},     // (NOT a) AND b
		{"NOT (a AND b)", "a", true},   //
		{"NOT a AND b", "a b", false},  //
		{"a AND NOT b OR c", "a b c", true},
		{"a AND NOT b OR c", "a b", false},
		{"vip AND (beta OR NOT churned)", "vip", true},
		{"vip AND (beta OR NOT churned)", "vip churned", false},
		{"vip AND (beta OR NOT churned)", "vip churned beta", true},
	}
	for _, tt := range tests {
		t.Run(tt.expr+"/"+tt.tags, func(t *testing.T) {
			e, err := ParseExpr(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			held := strings.Fields(tt.tags)
			has := func(tag string) bool {
				for _, h := range held {
					if h == tag {
						return true
					}
				}
				return false
			}
			if got := e.Eval(has); got != tt.want {
				t.Fatalf("Eval = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseExprErrors(t *testing.T) {
	tests := []struct {
		in   string
		pos  int
		text string // part of the message
	}{
		{"", 0, "found end of expression"},
		{"   ", 3, "found end of expression"},
		{"a AND", 5, "expected a tag"},
		{"a b", 2, `found tag "b"`},
		{"(a OR b", 7, `expected AND, OR or ")"`},
		{"a)", 1, `found ")"`},
		{"a AND OR b", 6, "found OR"},
		{"a & b", 2, `character "&"`},
		{"a AND é", 6, `character "é"`},
		{"NOT", 3, "found end of expression"},
		{"()", 1, `found ")"`},
		{"a AND " + strings.Repeat("x", 65), 6, "not 1-64 bytes"},
		{strings.Repeat("(", 17) + "a" + strings.Repeat(")", 17), 16, "nested deeper than 16"},
		{strings.Repeat("NOT ", 17) + "a", 64, "nested deeper than 16"},
		{strings.Repeat("t OR ", 64) + "t", 320, "more than 64 tags"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseExpr(tt.in)
			var ee *ExprError
			if !errors.As(err, &ee) {
				t.Fatalf("ParseExpr(%q) = %v, want an *ExprError", tt.in, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if ee.Pos != tt.pos || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("ParseExpr(%q) = %v (pos %d), want pos %d and %q", tt.in, err, ee.Pos, tt.pos, tt.text)
			}
		})
	}
}

func TestParseExprLimitsReached(t *testing.T) {
	ok := []string{
		strings.Repeat("(", 16) + "a" + strings.Repeat(")", 16),
		strings.Repeat("NOT ", 16) + "a",
		strings.Repeat("t OR ", 63) + "t",
	}
	for _, s := range ok {
		if _, err := ParseExpr(s); err != nil {
			t.Errorf("ParseExpr(%.30q...): %v", s, err)
		}
	}
}

func TestValidTag(t *testing.T) {
	for _, tag := range []string{"a", "A-b_c.d:e9", strings.Repeat("x", 64), "andy", "notify"} {
		if err := validTag(tag); err != nil {
			t.Errorf("validTag(%q): %v", tag, err)
		}
	}
	for _, tag := range []string{"", strings.Repeat("x", 65), "a b", "a/b", "é", "and", "Or", "NOT", "a\x00"} {
		if err := validTag(tag); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "tag ") {
			t.Errorf("validTag(%q) = %v, want ErrInvalid naming the tag", tag, err)
		}
	}
}

func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{"vip AND (beta OR NOT churned)", "a or b and c", "((a))", "NOT NOT a", "a b", "(", "a AND", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpr(s)
		if err != nil {
			var ee *ExprError
			if !errors.As(err, &ee) || ee.Pos < 0 || ee.Pos > len(s) {
				t.Fatalf("ParseExpr(%q): bad error %v", s, err)
			}
			return
		}
		canon := e.String()
		again, err := ParseExpr(canon)
		if err != nil {
			t.Fatalf("ParseExpr(%q) of canonical form of %q: %v", canon, s, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form %q reparsed as %q", canon, again.String())
		}
	})
}
