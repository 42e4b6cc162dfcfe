package meizu

import (
	"encoding/json"
	"slices"

	"github.com/loftchat/loft/offlinepush"
)

// cut shortens s to at most limit characters, ending it with "…" when it
// cuts anything. It counts a character as Meizu's Java server may
// (String.length): one, or two outside the Basic Multilingual Plane.
func cut(s string, limit int) string {
	return offlinepush.TruncateWidth(s, limit, offlinepush.UTF16Width)
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
