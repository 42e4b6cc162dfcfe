package offlinepush

import (
	"encoding/json"
	"slices"
)

// loftDataKeys are the Data keys that Loft sets on every push so that the
// app syncs on wake (see Notification.Data): FitData keeps them first.
var loftDataKeys = []string{"conv", "seq", "msg_id"}

// FitData returns as much of data as fits accepts, for a vendor that limits
// the size of a push's custom data (OPPO, vivo, Meizu). It tries data's
// keys one at a time, Loft's own ("conv", "seq", "msg_id") first and then
// the rest in sorted order, calling fits with the keys kept so far and the
// one tried, and leaves out each key with which fits does not hold: Loft's
// keys are the last to go, and a key too large leaves room for a later,
// smaller one. It returns nil when it keeps nothing.
func FitData(data map[string]string, fits func(kept map[string]string) bool) map[string]string {
	var kept map[string]string
	for _, k := range dataKeys(data) {
		if kept == nil {
			kept = make(map[string]string, len(data))
		}
		kept[k] = data[k]
		if !fits(kept) {
			delete(kept, k)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	return kept
}

// FitDataJSON is FitData for a vendor that takes the data as a JSON object
// string of at most limit bytes, as json.Marshal encodes it. It returns ""
// when no key fits.
func FitDataJSON(data map[string]string, limit int) string {
	kept := FitData(data, func(kept map[string]string) bool {
		b, err := json.Marshal(kept)
		return err == nil && len(b) <= limit
	})
	if kept == nil {
		return ""
	}
	b, _ := json.Marshal(kept) // a string map that encoded just now
	return string(b)
}

// dataKeys orders data's keys: Loft's own first, then the rest sorted.
func dataKeys(data map[string]string) []string {
	keys := make([]string, 0, len(data))
	for _, k := range loftDataKeys {
		if _, ok := data[k]; ok {
			keys = append(keys, k)
		}
	}
	rest := make([]string, 0, len(data))
	for k := range data {
		if !slices.Contains(loftDataKeys, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(keys, rest...)
}
