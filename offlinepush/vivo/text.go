package vivo

import (
	"slices"

	"github.com/loftchat/loft/offlinepush"
)

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

// loftKeys are the Data keys the app needs to sync on wake: kept first.
var loftKeys = []string{"conv", "seq", "msg_id"}

// dataKeys orders data's keys: Loft's own first, then the rest sorted.
func dataKeys(data map[string]string) []string {
	keys := make([]string, 0, len(data))
	for _, k := range loftKeys {
		if _, ok := data[k]; ok {
			keys = append(keys, k)
		}
	}
	rest := make([]string, 0, len(data))
	for k := range data {
		if !slices.Contains(loftKeys, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(keys, rest...)
}

// fitData returns data as a clientCustomMap within vivo's limits: at most
// 10 pairs, keys and values at most 1024 bytes (so characters) in all,
// leaving out the keys that do not fit, Loft's last. nil for no data.
func fitData(data map[string]string) map[string]string {
	if len(data) == 0 {
		return nil
	}
	kept := make(map[string]string, min(len(data), maxCustomKeys))
	size := 0
	for _, k := range dataKeys(data) {
		n := len(k) + len(data[k])
		if len(kept) == maxCustomKeys || size+n > maxCustomLen {
			continue
		}
		kept[k] = data[k]
		size += n
	}
	if len(kept) == 0 {
		return nil
	}
	return kept
}
