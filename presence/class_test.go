package presence

import (
	"fmt"
	"testing"
	"time"
)

func TestClassOf(t *testing.T) {
	tests := []struct {
		platform string
		want     Class
	}{
		{"android", ClassMobile},
		{"ios", ClassMobile},
		{"iOS", ClassMobile},
		{"ipados", ClassMobile},
		{"HarmonyOS", ClassMobile},
		{"mobile", ClassMobile},
		{"windows", ClassDesktop},
		{"macOS", ClassDesktop},
		{"linux", ClassDesktop},
		{"DESKTOP", ClassDesktop},
		{"web", ClassWeb},
		{"Browser", ClassWeb},
		{"", ClassOther},
		{"tv", ClassOther},
		{"watchos", ClassOther},
		{"other", ClassOther},
		{" ios", ClassOther},
	}
	for _, tt := range tests {
		if got := ClassOf(tt.platform); got != tt.want {
			t.Errorf("ClassOf(%q) = %q, want %q", tt.platform, got, tt.want)
		}
	}
}

func TestDefaultLimits(t *testing.T) {
	l := DefaultLimits()
	if l[ClassMobile] != 1 || l[ClassDesktop] != 1 || l[ClassWeb] != 5 || len(l) != 3 {
		t.Fatalf("DefaultLimits() = %v", l)
	}
	// Each call returns its own map: a caller may change it.
	l[ClassWeb] = 1
	if DefaultLimits()[ClassWeb] != 5 {
		t.Fatal("DefaultLimits shares its map between calls")
	}
}

func TestOverLimit(t *testing.T) {
	type conn struct{ user, id, platform string }
	// Since runs backwards against connect order in every case, so a test
	// that ordered by Since would fail.
	tests := []struct {
		name   string
		conns  []conn // connected in this order; a repeated id reconnects
		device string // asked about, for alice
		limits Limits
		want   string // fmt.Sprint of the returned ids
	}{
		{
			name:   "within limit",
			conns:  []conn{{"alice", "phone", "android"}, {"alice", "laptop", "windows"}},
			device: "phone", limits: DefaultLimits(), want: "[]",
		},
		{
			name:   "second mobile kicks the first",
			conns:  []conn{{"alice", "phone", "android"}, {"alice", "pad", "ipados"}},
			device: "pad", limits: DefaultLimits(), want: "[phone]",
		},
		{
			name:   "platform names are case-insensitive",
			conns:  []conn{{"alice", "phone", "Android"}, {"alice", "iphone", "IOS"}},
			device: "iphone", limits: DefaultLimits(), want: "[phone]",
		},
		{
			name:   "other classes and users do not count",
			conns:  []conn{{"alice", "laptop", "windows"}, {"alice", "web1", "web"}, {"bob", "phone", "ios"}, {"alice", "phone", "ios"}},
			device: "phone", limits: DefaultLimits(), want: "[]",
		},
		{
			name: "sixth web kicks the oldest",
			conns: []conn{
				{"alice", "w1", "web"}, {"alice", "w2", "browser"}, {"alice", "w3", "web"},
				{"alice", "w4", "web"}, {"alice", "w5", "web"}, {"alice", "w6", "web"},
			},
			device: "w6", limits: DefaultLimits(), want: "[w1]",
		},
		{
			name: "several over, oldest first",
			conns: []conn{
				{"alice", "w1", "web"}, {"alice", "phone", "ios"}, {"alice", "w2", "web"},
				{"alice", "w3", "web"}, {"alice", "w4", "web"},
			},
			device: "w4", limits: Limits{ClassWeb: 2}, want: "[w1 w2]",
		},
		{
			name: "a reconnect becomes the newest",
			conns: []conn{
				{"alice", "w1", "web"}, {"alice", "w2", "web"}, {"alice", "w3", "web"},
				{"alice", "w1", "web"},
			},
			device: "w2", limits: Limits{ClassWeb: 2}, want: "[w3]",
		},
		{
			name: "a reconnected device is no longer the oldest",
			conns: []conn{
				{"alice", "w1", "web"}, {"alice", "w2", "web"}, {"alice", "w1", "web"},
				{"alice", "w3", "web"},
			},
			device: "w3", limits: Limits{ClassWeb: 2}, want: "[w2]",
		},
		{
			name:   "never the device itself, even when it is the oldest",
			conns:  []conn{{"alice", "old", "android"}, {"alice", "new", "ios"}},
			device: "old", limits: DefaultLimits(), want: "[new]",
		},
		{
			name:   "device not online",
			conns:  []conn{{"alice", "phone", "android"}, {"alice", "pad", "ios"}},
			device: "tablet", limits: DefaultLimits(), want: "[]",
		},
		{
			name:   "other is unlimited by default",
			conns:  []conn{{"alice", "tv1", "tv"}, {"alice", "tv2", "tv"}, {"alice", "car", "carplay"}},
			device: "car", limits: DefaultLimits(), want: "[]",
		},
		{
			name:   "a limit of zero is unlimited",
			conns:  []conn{{"alice", "phone", "android"}, {"alice", "pad", "ios"}},
			device: "pad", limits: Limits{ClassMobile: 0}, want: "[]",
		},
		{
			name:   "nil limits",
			conns:  []conn{{"alice", "phone", "android"}, {"alice", "pad", "ios"}},
			device: "pad", limits: nil, want: "[]",
		},
		{
			name:   "other can be limited",
			conns:  []conn{{"alice", "tv1", "tv"}, {"alice", "tv2", "tv"}},
			device: "tv2", limits: Limits{ClassOther: 1}, want: "[tv1]",
		},
	}
	t0 := time.Unix(1700000000, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New()
			for i, c := range tt.conns {
				tr.Connect(c.user, Device{ID: c.id, Platform: c.platform, Since: t0.Add(-time.Duration(i) * time.Second)})
			}
			got := tr.OverLimit("alice", tt.device, tt.limits)
			var ids []string
			for _, d := range got {
				ids = append(ids, d.ID)
			}
			if fmt.Sprint(ids) != tt.want {
				t.Errorf("OverLimit(alice, %s) = %v, want %s", tt.device, ids, tt.want)
			}
			if tt.want == "[]" && got != nil {
				t.Errorf("OverLimit(alice, %s) = %#v, want nil", tt.device, got)
			}
		})
	}
}
