package oppo

import "github.com/loftchat/loft/offlinepush"

// cut shortens s to at most limit characters, ending it with "…" when it
// cuts anything. It counts a character as OPPO's Java server may
// (String.length): one, or two outside the Basic Multilingual Plane. OPPO
// says an emoji counts as one; counting it as two only cuts a little early.
func cut(s string, limit int) string {
	return offlinepush.TruncateWidth(s, limit, offlinepush.UTF16Width)
}
