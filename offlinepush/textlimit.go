package offlinepush

import (
	"bytes"
	"encoding/json"
	"sort"
)

// Vendors limit a title or a body in one of two ways: in bytes of the
// encoded payload (APNs, FCM, Huawei, Honor, web push, webhook), which
// Truncate, TruncateToFit, FitPreview and ShrinkPair fit, or in characters
// counted the vendor's way (Xiaomi, OPPO, vivo, Meizu), which TruncateWidth
// and TruncateRunes fit. Either way a long preview is cut and ends with
// "…", never refused.

// TruncateWidth cuts s to at most limit, counting each character as width
// says, and ends it with "…" (counted the same way) when it cut anything.
// It returns "" when s does not fit and not even "…" does. Like Truncate, it
// never splits a UTF-8 sequence.
func TruncateWidth(s string, limit int, width func(rune) int) string {
	total := 0
	for _, r := range s {
		total += width(r)
	}
	if total <= limit {
		return s
	}
	budget := limit - width('…')
	if budget < 0 {
		return ""
	}
	keep, used := 0, 0 // keep: the bytes of s that fit beside the ellipsis
	for i, r := range s {
		if used+width(r) > budget {
			keep = i
			break
		}
		used += width(r)
	}
	for keep > 0 && s[keep]&0xC0 == 0x80 {
		keep-- // s is not UTF-8: do not split a broken character either, as Truncate
	}
	return s[:keep] + "…"
}

// TruncateRunes cuts s to at most n characters (runes), ending it with "…"
// when it cut anything: TruncateWidth counting every character one.
func TruncateRunes(s string, n int) string {
	return TruncateWidth(s, n, func(rune) int { return 1 })
}

// UTF16Width is a character's length as a Java server counts it
// (String.length, in UTF-16 code units): one, or two outside the Basic
// Multilingual Plane (most emoji). A width for TruncateWidth.
func UTF16Width(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// TruncateToFit returns the longest Truncate of s for which fits holds: s
// itself if it fits, and "" and false if not even "" does. fits must hold
// for every shorter cut of s where it holds for a longer one, as a limit
// on an encoded size does: the cut is found by bisection, since JSON
// escaping makes the encoded size of a cut hard to predict.
func TruncateToFit(s string, fits func(string) bool) (string, bool) {
	if fits(s) {
		return s, true
	}
	n := sort.Search(len(s), func(n int) bool { return !fits(Truncate(s, n)) })
	if n == 0 {
		return "", false
	}
	return Truncate(s, n-1), true
}

// FitPreview cuts the body, then the title, each with TruncateToFit to the
// longest that lets fits hold, and reports whether fits holds in the end;
// if not, both are "". fits measures the payload that title and body are
// part of; it is called with them set to each cut tried.
func FitPreview(title, body *string, fits func() bool) bool {
	if fits() {
		return true
	}
	for _, s := range []*string{body, title} {
		cut, ok := TruncateToFit(*s, func(cut string) bool { *s = cut; return fits() })
		*s = cut
		if ok {
			return true
		}
	}
	return false
}

// ShrinkPair cuts title and body, each with TruncateToFit, so that their
// sizes, as size measures them, shrink by at least over in all: the longer
// one alone while that leaves it at least as long as the other, else both
// to about half of what is left. Measured by a JSON string's length, it
// counts encoded bytes, since an escaped character takes up to 6 of them.
func ShrinkPair(title, body *string, over int, size func(string) int) {
	cutTo := func(s string, n int) string {
		t, _ := TruncateToFit(s, func(t string) bool { return size(t) <= n })
		return t
	}
	long, short := body, title
	if size(*title) > size(*body) {
		long, short = title, body
	}
	sl, ss := size(*long), size(*short)
	if sl-over >= ss {
		*long = cutTo(*long, sl-over)
		return
	}
	keep := max(0, sl+ss-over)
	*short = cutTo(*short, keep/2)
	*long = cutTo(*long, keep-keep/2)
}

// EncodeJSON is json.Marshal without HTML escaping: a vendor's payload
// limit counts bytes, and "<", ">" and "&" in a preview then take one of
// them, not six. Vendors that receive JSON as it is encoded use it.
func EncodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
