package offlinepush

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func loftData() map[string]string {
	return map[string]string{"conv": "c-1", "seq": "42", "msg_id": "m-9001"}
}

func TestFitData(t *testing.T) {
	with := func(extra map[string]string) map[string]string {
		d := loftData()
		maps.Copy(d, extra)
		return d
	}
	// atMost fits at most n keys and size bytes of keys and values.
	atMost := func(n, size int) func(map[string]string) bool {
		return func(kept map[string]string) bool {
			total := 0
			for k, v := range kept {
				total += len(k) + len(v)
			}
			return len(kept) <= n && total <= size
		}
	}
	tests := []struct {
		name string
		data map[string]string
		fits func(map[string]string) bool
		want []string // the keys kept, sorted
	}{
		{"all fit", with(map[string]string{"a": "1"}), atMost(10, 100), []string{"a", "conv", "msg_id", "seq"}},
		{"Loft's first", with(map[string]string{"a": "1", "b": "2"}), atMost(3, 100), []string{"conv", "msg_id", "seq"}},
		{"then sorted", with(map[string]string{"b": "2", "a": "1"}), atMost(4, 100), []string{"a", "conv", "msg_id", "seq"}},
		{"a large key leaves room for a small one", with(map[string]string{"a": strings.Repeat("x", 100), "b": "2"}), atMost(10, 40), []string{"b", "conv", "msg_id", "seq"}},
		{"Loft's last to go", with(nil), atMost(10, 10), []string{"conv"}},
		{"nothing fits", with(nil), atMost(0, 100), nil},
		{"no data", nil, atMost(10, 100), nil},
		{"empty data", map[string]string{}, atMost(10, 100), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FitData(tt.data, tt.fits)
			keys := slices.Sorted(maps.Keys(got))
			if !slices.Equal(keys, tt.want) || (tt.want == nil) != (got == nil) {
				t.Errorf("FitData kept %v (%#v), want %v", keys, got, tt.want)
			}
			for k, v := range got {
				if tt.data[k] != v {
					t.Errorf("FitData changed %s to %q", k, v)
				}
			}
		})
	}
}

func TestFitDataJSON(t *testing.T) {
	data := loftData()
	data["big"] = strings.Repeat("x", 3000)
	data["a<b"] = "&" // json.Marshal escapes it: 6 bytes each, counted
	tests := []struct {
		limit int
		want  string
	}{
		{4000, `{"a\u003cb":"\u0026","big":"` + strings.Repeat("x", 3000) + `","conv":"c-1","msg_id":"m-9001","seq":"42"}`},
		{100, `{"a\u003cb":"\u0026","conv":"c-1","msg_id":"m-9001","seq":"42"}`},
		{50, `{"conv":"c-1","msg_id":"m-9001","seq":"42"}`},
		{14, `{"conv":"c-1"}`},
		{13, `{"seq":"42"}`}, // a smaller key after one that does not fit
		{11, ""},
	}
	for _, tt := range tests {
		if got := FitDataJSON(data, tt.limit); got != tt.want || len(got) > tt.limit {
			t.Errorf("FitDataJSON(%d) = %s, want %s", tt.limit, got, tt.want)
		}
	}
	if got := FitDataJSON(nil, 100); got != "" {
		t.Errorf("FitDataJSON(nil) = %q", got)
	}
}
