package meizu

import (
	"encoding/json"
	"slices"

	"github.com/loftchat/loft/offlinepush"
)

const ellipsis = "…"

// width is a character's length as Meizu's Java server may count it
// (String.length): one, or two outside the Basic Multilingual Plane.
func width(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// cut shortens s to at most limit characters, ending it with "…" when it
// cuts anything.
func cut(s string, limit int) string {
	total := 0
	for _, r := range s {
		total += width(r)
	}
	if total <= limit {
		return s
	}
	budget := limit - width('…')
	keep, used := 0, 0 // keep: bytes of s that fit beside the ellipsis
	for i, r := range s {
		if used+width(r) > budget {
			keep = i
			break
		}
		used += width(r)
	}
	// Truncate keeps exactly keep bytes (a character boundary) and adds
	// the ellipsis, unless so little follows that it would keep s whole.
	if len(s) > keep+len(ellipsis) {
		return offlinepush.Truncate(s, keep+len(ellipsis))
	}
	return s[:keep] + ellipsis
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

// fitData encodes data as a JSON object of at most limit bytes, leaving
// out the keys that do not fit, Loft's last. It returns empty for no data.
func fitData(data map[string]string, limit int, empty string) string {
	kept := make(map[string]string, len(data))
	out := empty
	for _, k := range dataKeys(data) {
		kept[k] = data[k]
		b, err := json.Marshal(kept)
		if err != nil || len(b) > limit {
			delete(kept, k)
			continue
		}
		out = string(b)
	}
	return out
}
