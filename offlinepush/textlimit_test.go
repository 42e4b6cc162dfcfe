package offlinepush

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// wideWidth counts as vivo does: ASCII one, any other character two.
func wideWidth(r rune) int {
	if r < 0x80 {
		return 1
	}
	return 2
}

func widthOf(s string, width func(rune) int) int {
	n := 0
	for _, r := range s {
		n += width(r)
	}
	return n
}

func TestTruncateWidth(t *testing.T) {
	runes := func(rune) int { return 1 }
	tests := []struct {
		name  string
		width func(rune) int
		in    string
		limit int
		want  string
	}{
		{"utf16 fits", UTF16Width, "hello", 5, "hello"},
		{"utf16 ascii", UTF16Width, "hello!", 5, "hell…"},
		{"utf16 chinese", UTF16Width, "你好世界再见", 5, "你好世界…"},
		{"utf16 emoji counts two", UTF16Width, "ab🎉cd", 4, "ab…"},
		{"utf16 short multibyte tail", UTF16Width, "abcdé", 4, "abc…"},
		{"utf16 no room for the ellipsis", UTF16Width, "ab", 0, ""},
		{"wide fits", wideWidth, "hello", 5, "hello"},
		{"wide ellipsis counts two", wideWidth, "hello world", 8, "hello …"},
		{"wide chinese", wideWidth, "你好世界再见", 10, "你好世界…"},
		{"wide chinese odd limit", wideWidth, "你好世界再见", 11, "你好世界…"},
		{"wide ascii", wideWidth, "abcdef", 5, "abc…"},
		{"wide accents", wideWidth, "éééé", 6, "éé…"},
		{"wide short multibyte tail", wideWidth, "abcdé", 4, "ab…"},
		{"wide no room for the ellipsis", wideWidth, "abc", 1, ""},
		{"runes fit", runes, "标题标题", 4, "标题标题"},
		{"runes", runes, "很长的标题", 4, "很长的…"},
		{"runes emoji counts one", runes, "🎉🎉🎉", 2, "🎉…"},
		{"runes limit one", runes, "ab", 1, "…"},
		{"runes limit zero", runes, "ab", 0, ""},
		{"broken character not split", runes, "ab\xe6\xa0cd", 4, "ab…"},
		{"empty", runes, "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TruncateWidth(tt.in, tt.limit, tt.width)
			if got != tt.want {
				t.Errorf("TruncateWidth(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
			}
			if (utf8.ValidString(tt.in) && !utf8.ValidString(got)) || (got != tt.in && widthOf(got, tt.width) > tt.limit) {
				t.Errorf("TruncateWidth(%q, %d) = %q: over the limit or not UTF-8", tt.in, tt.limit, got)
			}
		})
	}
}

func TestTruncateRunes(t *testing.T) {
	long := strings.Repeat("很长的标题", 20)
	for n := range 12 {
		got := TruncateRunes(long, n)
		if c := utf8.RuneCountInString(got); c > n || (n > 0 && c != n) {
			t.Errorf("TruncateRunes(long, %d) = %q: %d characters", n, got, c)
		}
		if n > 0 && !strings.HasSuffix(got, "…") {
			t.Errorf("TruncateRunes(long, %d) = %q: no ellipsis", n, got)
		}
	}
	if got := TruncateRunes("short", 5); got != "short" {
		t.Errorf("TruncateRunes kept %q", got)
	}
}

func TestUTF16Width(t *testing.T) {
	for r, want := range map[rune]int{'a': 1, 'é': 1, '你': 1, '…': 1, '🎉': 2, '\U0010FFFF': 2} {
		if got := UTF16Width(r); got != want {
			t.Errorf("UTF16Width(%q) = %d, want %d", r, got, want)
		}
	}
}

// jsonLen is the length of s as a JSON string: quotes and escapes too.
func jsonLen(s string) int {
	b, _ := json.Marshal(s)
	return len(b)
}

func TestTruncateToFit(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		max    int // the most bytes of JSON string that fit
		want   string
		wantOK bool
	}{
		{"fits", "hello", 7, "hello", true},
		{"cut", "hello world", 10, "hello…", true},
		{"escapes count", `<<<<<<`, 20, `<<…`, true},
		{"not split", "héllo wörld", 8, "hé…", true},
		{"only empty fits", "hello", 2, "", true},
		{"nothing fits", "hello", 1, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := TruncateToFit(tt.in, func(s string) bool { return jsonLen(s) <= tt.max })
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("TruncateToFit(%q, %d) = %q, %v; want %q, %v", tt.in, tt.max, got, ok, tt.want, tt.wantOK)
			}
			if ok && jsonLen(got) > tt.max {
				t.Errorf("TruncateToFit(%q, %d) = %q does not fit", tt.in, tt.max, got)
			}
			// The longest: no cut of s by more bytes fits.
			if ok && got != tt.in {
				for n := len(tt.in) - 1; n >= 0; n-- {
					if cut := Truncate(tt.in, n); jsonLen(cut) <= tt.max {
						if cut != got {
							t.Errorf("TruncateToFit(%q, %d) = %q, but %q fits", tt.in, tt.max, got, cut)
						}
						break
					}
				}
			}
		})
	}
}

func TestShrinkPair(t *testing.T) {
	tests := []struct {
		name        string
		title, body string
		over        int
		title2      string // want
		body2       string
	}{
		{"body alone", "title", strings.Repeat("b", 40), 10, "title", strings.Repeat("b", 27) + "…"},
		{"title alone", strings.Repeat("t", 40), "body", 10, strings.Repeat("t", 27) + "…", "body"},
		{"both", strings.Repeat("t", 20), strings.Repeat("b", 20), 24, "ttttt…", "bbbbb…"},
		{"all", "title", "body", 100, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			title, body := tt.title, tt.body
			ShrinkPair(&title, &body, tt.over, jsonLen)
			if title != tt.title2 || body != tt.body2 {
				t.Errorf("ShrinkPair = %q, %q; want %q, %q", title, body, tt.title2, tt.body2)
			}
			before, after := jsonLen(tt.title)+jsonLen(tt.body), jsonLen(title)+jsonLen(body)
			if after > before-tt.over && (title != "" || body != "") {
				t.Errorf("ShrinkPair shrank %d bytes, want at least %d", before-after, tt.over)
			}
		})
	}
}

func TestFitPreview(t *testing.T) {
	tests := []struct {
		name        string
		title, body string
		limit       int // bytes of title and body together
		ok          bool
		title2      string // want
		body2       string
	}{
		{"fits", "title", "body", 9, true, "title", "body"},
		{"body first", "title", "a long body", 12, true, "title", "a lo…"},
		{"then the title", "a long title", "body", 9, true, "a long…", ""},
		{"title alone fits", "title", "body", 5, true, "title", ""},
		{"nothing fits", "title", "body", -1, false, "", ""},
		{"not split", "标题", "内容内容", 12, true, "标题", "内…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			title, body := tt.title, tt.body
			calls := 0
			ok := FitPreview(&title, &body, func() bool { calls++; return len(title)+len(body) <= tt.limit })
			if ok != tt.ok || title != tt.title2 || body != tt.body2 {
				t.Errorf("FitPreview = %v, %q, %q; want %v, %q, %q", ok, title, body, tt.ok, tt.title2, tt.body2)
			}
			if calls > 2*(bits(len(tt.title))+bits(len(tt.body))+2) {
				t.Errorf("fits called %d times: not a bisection", calls)
			}
		})
	}
}

// bits is how many halvings bring n to zero.
func bits(n int) int {
	b := 0
	for ; n > 0; n >>= 1 {
		b++
	}
	return b
}

func TestEncodeJSON(t *testing.T) {
	b, err := EncodeJSON(map[string]string{"body": "<b>&</b>"})
	if err != nil || string(b) != `{"body":"<b>&</b>"}` {
		t.Errorf("EncodeJSON = %s, %v", b, err)
	}
	if _, err := EncodeJSON(func() {}); err == nil {
		t.Error("EncodeJSON of a func: no error")
	}
}
