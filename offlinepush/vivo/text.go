package vivo

import "github.com/loftchat/loft/offlinepush"

// width is a character's length as vivo counts it: one for ASCII, two for a
// Chinese character. vivo says an emoji counts one; counting every
// non-ASCII character as two only cuts a little early.
func width(r rune) int {
	if r < 0x80 {
		return 1
	}
	return 2
}

// cut shortens s to at most limit, counted by width, ending it with "…"
// (which counts two) when it cuts anything.
func cut(s string, limit int) string {
	return offlinepush.TruncateWidth(s, limit, width)
}

// fitData returns data as a clientCustomMap within vivo's limits: at most
// 10 pairs, keys and values at most 1024 bytes (so characters) in all,
// leaving out the keys that do not fit, Loft's last. nil for no data.
func fitData(data map[string]string) map[string]string {
	return offlinepush.FitData(data, func(kept map[string]string) bool {
		size := 0
		for k, v := range kept {
			size += len(k) + len(v)
		}
		return len(kept) <= maxCustomKeys && size <= maxCustomLen
	})
}
