package meizu

import "github.com/loftchat/loft/offlinepush"

// cut shortens s to at most limit characters, ending it with "…" when it
// cuts anything. It counts a character as Meizu's Java server may
// (String.length): one, or two outside the Basic Multilingual Plane.
func cut(s string, limit int) string {
	return offlinepush.TruncateWidth(s, limit, offlinepush.UTF16Width)
}
