package offlinepush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
)

// tagKV is an in-memory KV for the tag tests that counts scans, so a test
// can tell how much Match read.
type tagKV struct {
	mu       sync.Mutex
	m        map[string][]byte
	prefixes []string // every Scan's prefix
	failNext error    // returned by the next Apply
}

func newTagKV() *tagKV { return &tagKV{m: make(map[string][]byte)} }

func (kv *tagKV) Get(k []byte) ([]byte, bool, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	v, ok := kv.m[string(k)]
	return bytes.Clone(v), ok, nil
}

func (kv *tagKV) Scan(p []byte, fn func(k, v []byte) error) error {
	kv.mu.Lock()
	kv.prefixes = append(kv.prefixes, string(p))
	var keys []string
	for k := range kv.m {
		if strings.HasPrefix(k, string(p)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	kv.mu.Unlock()
	for _, k := range keys {
		if err := fn([]byte(k), nil); err != nil {
			return err
		}
	}
	return nil
}

func (kv *tagKV) Apply(_ context.Context, ops ...Op) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if err := kv.failNext; err != nil {
		kv.failNext = nil
		return err
	}
	for _, op := range ops {
		if op.Delete {
			delete(kv.m, string(op.Key))
		} else {
			kv.m[string(op.Key)] = bytes.Clone(op.Value)
		}
	}
	return nil
}

func (kv *tagKV) scans() []string {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	p := kv.prefixes
	kv.prefixes = nil
	return p
}

func newTestTags(tb testing.TB, kv KV, limits TagLimits) *Tags {
	tb.Helper()
	tags, err := NewTags(kv, limits)
	if err != nil {
		tb.Fatal(err)
	}
	return tags
}

func mustAdd(tb testing.TB, tags *Tags, target Target, names ...string) {
	tb.Helper()
	if err := tags.Add(context.Background(), target, names...); err != nil {
		tb.Fatalf("Add(%v, %v): %v", target, names, err)
	}
}

func tagsOf(tb testing.TB, tags *Tags, target Target) []string {
	tb.Helper()
	got, err := tags.Of(target)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

func TestTagsAddRemoveIdempotent(t *testing.T) {
	ctx := context.Background()
	tags := newTestTags(t, newTagKV(), TagLimits{})
	u := Target{User: "u1"}
	d := Target{User: "u1", Device: "d1"}
	mustAdd(t, tags, u, "vip", "beta", "vip")
	mustAdd(t, tags, u, "beta")
	mustAdd(t, tags, d, "beta")
	mustAdd(t, tags, u) // nothing to add
	if got, want := tagsOf(t, tags, u), []string{"beta", "vip"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Of(user) = %v, want %v", got, want)
	}
	if got, want := tagsOf(t, tags, d), []string{"beta"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Of(device) = %v, want %v (not its user's)", got, want)
	}
	if got := tags.Count("beta"); got != 2 {
		t.Fatalf("Count(beta) = %d, want 2", got)
	}
	for range 2 {
		if err := tags.Remove(ctx, u, "beta", "never"); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := tagsOf(t, tags, u), []string{"vip"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Of(user) after Remove = %v, want %v", got, want)
	}
	if err := tags.Remove(ctx, d, "beta"); err != nil {
		t.Fatal(err)
	}
	if got, want := tags.List(), []TagCount{{"vip", 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	if got := tags.Count("beta"); got != 0 {
		t.Fatalf("Count(beta) = %d after removing it everywhere", got)
	}
}

func TestTagsInvalid(t *testing.T) {
	ctx := context.Background()
	tags := newTestTags(t, newTagKV(), TagLimits{})
	tests := []struct {
		name   string
		target Target
		tags   []string
		want   string
	}{
		{"bad tag", Target{User: "u"}, []string{"ok", "no way"}, `"no way"`},
		{"empty tag", Target{User: "u"}, []string{""}, `tag ""`},
		{"operator", Target{User: "u"}, []string{"and"}, `"and"`},
		{"no user", Target{Device: "d"}, []string{"a"}, "needs a user"},
		{"NUL", Target{User: "u\x00"}, []string{"a"}, "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for op, f := range map[string]func(context.Context, Target, ...string) error{"Add": tags.Add, "Remove": tags.Remove} {
				err := f(ctx, tt.target, tt.tags...)
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s = %v, want ErrInvalid naming %s", op, err, tt.want)
				}
			}
		})
	}
	if got := tags.List(); len(got) != 0 {
		t.Fatalf("invalid Adds left tags: %v", got)
	}
	if _, err := NewTags(newTagKV(), TagLimits{PerTarget: -1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("NewTags with a negative limit = %v, want ErrInvalid", err)
	}
}

func TestTagsPerTargetLimit(t *testing.T) {
	tags := newTestTags(t, newTagKV(), TagLimits{}) // default 100
	d := Target{User: "u", Device: "d"}
	var hundred []string
	for i := range 100 {
		hundred = append(hundred, fmt.Sprintf("t%03d", i))
	}
	mustAdd(t, tags, d, hundred[:60]...)
	mustAdd(t, tags, d, hundred...) // 40 new: exactly 100
	mustAdd(t, tags, d, hundred...) // idempotent at the limit
	err := tags.Add(context.Background(), d, "t050", "extra1", "extra2")
	if !errors.Is(err, ErrTagLimit) || !strings.Contains(err.Error(), "PerTarget") || !strings.Contains(err.Error(), "100") {
		t.Fatalf("Add beyond 100 = %v, want ErrTagLimit naming PerTarget and 100", err)
	}
	if got := tagsOf(t, tags, d); len(got) != 100 || tags.Count("extra1") != 0 {
		t.Fatalf("a refused Add left %d tags, extra1 on %d targets", len(got), tags.Count("extra1"))
	}
	// Another target has its own 100.
	mustAdd(t, tags, Target{User: "u"}, hundred...)
}

func TestTagsDistinctLimit(t *testing.T) {
	ctx := context.Background()
	kv := newTagKV()
	tags := newTestTags(t, kv, TagLimits{Distinct: 3})
	mustAdd(t, tags, Target{User: "a"}, "x", "y")
	mustAdd(t, tags, Target{User: "b"}, "x", "y", "z") // z is the 3rd
	err := tags.Add(ctx, Target{User: "c"}, "x", "w")
	if !errors.Is(err, ErrTagLimit) || !strings.Contains(err.Error(), "Distinct") || !strings.Contains(err.Error(), "3") {
		t.Fatalf("Add of a 4th distinct tag = %v, want ErrTagLimit naming Distinct and 3", err)
	}
	if got := tagsOf(t, tags, Target{User: "c"}); len(got) != 0 {
		t.Fatalf("refused Add left %v on c (nothing half-done)", got)
	}
	mustAdd(t, tags, Target{User: "c"}, "x", "z") // existing tags are fine
	if err := tags.Remove(ctx, Target{User: "b"}, "z"); err != nil {
		t.Fatal(err)
	}
	if err := tags.Add(ctx, Target{User: "c"}, "w"); !errors.Is(err, ErrTagLimit) {
		t.Fatalf("z is still on c, so w is a 4th: %v", err)
	}
	if err := tags.Remove(ctx, Target{User: "c"}, "z"); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, tags, Target{User: "c"}, "w") // z is gone everywhere

	// The limit holds after a restart too.
	again := newTestTags(t, kv, TagLimits{Distinct: 3})
	if err := again.Add(ctx, Target{User: "d"}, "v"); !errors.Is(err, ErrTagLimit) {
		t.Fatalf("after reload, a 4th distinct tag = %v, want ErrTagLimit", err)
	}
}

func TestTagsApplyFailureChangesNothing(t *testing.T) {
	kv := newTagKV()
	tags := newTestTags(t, kv, TagLimits{})
	kv.failNext = errors.New("disk full")
	if err := tags.Add(context.Background(), Target{User: "u"}, "a"); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Add = %v, want the KV's error", err)
	}
	if tags.Count("a") != 0 || len(tags.List()) != 0 {
		t.Fatalf("failed Add counted: %v", tags.List())
	}
}

func TestTagsPersist(t *testing.T) {
	ctx := context.Background()
	kv := newTagKV()
	tags := newTestTags(t, kv, TagLimits{})
	mustAdd(t, tags, Target{User: "u1"}, "vip", "beta")
	mustAdd(t, tags, Target{User: "u1", Device: "d1"}, "ios", "beta")
	mustAdd(t, tags, Target{User: "u2", Device: "d1"}, "android")
	if err := tags.Remove(ctx, Target{User: "u1"}, "beta"); err != nil {
		t.Fatal(err)
	}
	again := newTestTags(t, kv, TagLimits{})
	want := []TagCount{{"android", 1}, {"beta", 1}, {"ios", 1}, {"vip", 1}}
	if got := again.List(); !reflect.DeepEqual(got, want) {
		t.Fatalf("List after reload = %v, want %v", got, want)
	}
	if got, want := tagsOf(t, again, Target{User: "u1", Device: "d1"}), []string{"beta", "ios"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Of after reload = %v, want %v", got, want)
	}
	if got, err := again.TaggedDevices("u1"); err != nil || !reflect.DeepEqual(got, []string{"d1"}) {
		t.Fatalf("TaggedDevices(u1) = %v, %v", got, err)
	}
}

// matchTags is the fixture of the Match tests:
//
//	u1      vip          (user level)
//	u1/d1   beta
//	u1/d2   churned
//	u2/d1   vip beta
//	u3      churned      (user level)
//	u3/d1   vip
//	u4/d1   android
func matchTags(tb testing.TB) (*Tags, *tagKV) {
	tb.Helper()
	kv := newTagKV()
	tags := newTestTags(tb, kv, TagLimits{})
	mustAdd(tb, tags, Target{User: "u1"}, "vip")
	mustAdd(tb, tags, Target{User: "u1", Device: "d1"}, "beta")
	mustAdd(tb, tags, Target{User: "u1", Device: "d2"}, "churned")
	mustAdd(tb, tags, Target{User: "u2", Device: "d1"}, "vip", "beta")
	mustAdd(tb, tags, Target{User: "u3"}, "churned")
	mustAdd(tb, tags, Target{User: "u3", Device: "d1"}, "vip")
	mustAdd(tb, tags, Target{User: "u4", Device: "d1"}, "android")
	return tags, kv
}

func TestTagsMatch(t *testing.T) {
	tags, kv := matchTags(t)
	tests := []struct {
		expr    string
		want    string // targets as user/device, "u" for user level
		scanAll bool   // whether Match has to read every target
	}{
		{"vip", "u1 u1/d1 u1/d2 u2/d1 u3/d1", false},
		{"beta", "u1/d1 u2/d1", false},
		{"vip AND beta", "u1/d1 u2/d1", false},
		{"vip AND NOT churned", "u1 u1/d1 u2/d1", false},
		{"vip AND NOT beta", "u1 u1/d2 u3/d1", false},
		{"beta OR android", "u1/d1 u2/d1 u4/d1", false},
		{"churned AND vip", "u1/d2 u3/d1", false},
		{"NOT vip", "u3 u4/d1", true},
		{"NOT churned", "u1 u1/d1 u2/d1 u4/d1", true},
		{"android OR NOT vip", "u3 u4/d1", true},
		{"nobody", "", false},
		{"vip AND (beta OR NOT churned)", "u1 u1/d1 u2/d1", false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			e, err := ParseExpr(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			kv.scans()
			var got []string
			err = tags.Match(e, func(target Target) error {
				s := target.User
				if target.Device != "" {
					s += "/" + target.Device
				}
				got = append(got, s)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != tt.want {
				t.Fatalf("Match(%s) = %q, want %q", tt.expr, strings.Join(got, " "), tt.want)
			}
			all := false
			for _, p := range kv.scans() {
				if p == string([]byte{recTargetTag}) {
					all = true
				}
			}
			if all != tt.scanAll {
				t.Fatalf("Match(%s) read every target: %v, want %v", tt.expr, all, tt.scanAll)
			}
		})
	}
}

func TestTagsMatchReadsOnlyNamedTags(t *testing.T) {
	tags, kv := matchTags(t)
	e, err := ParseExpr("android AND NOT vip")
	if err != nil {
		t.Fatal(err)
	}
	kv.scans()
	if err := tags.Match(e, func(Target) error { return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{string(prefix(recTagIndex, "android")), string(prefix(recTargetTag, "u4"))}
	if got := kv.scans(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Match scanned %q, want %q", got, want)
	}
}

func TestTagsMatchStopsAtError(t *testing.T) {
	tags, _ := matchTags(t)
	e, _ := ParseExpr("vip")
	stop := errors.New("stop")
	n := 0
	err := tags.Match(e, func(Target) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Match = %v after %d calls, want stop after 1", err, n)
	}
}

func TestTagsListCount(t *testing.T) {
	tags, _ := matchTags(t)
	want := []TagCount{{"android", 1}, {"beta", 2}, {"churned", 2}, {"vip", 3}}
	if got := tags.List(); !reflect.DeepEqual(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	for _, tc := range want {
		if got := tags.Count(tc.Tag); got != tc.Targets {
			t.Errorf("Count(%s) = %d, want %d", tc.Tag, got, tc.Targets)
		}
	}
	if got := tags.Count("none"); got != 0 {
		t.Errorf("Count(none) = %d", got)
	}
}

func TestTagsConcurrentDistinctLimit(t *testing.T) {
	tags := newTestTags(t, newTagKV(), TagLimits{Distinct: 10})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			_ = tags.Add(context.Background(), Target{User: fmt.Sprint("u", i)}, fmt.Sprint("tag", i))
		})
	}
	wg.Wait()
	if got := len(tags.List()); got != 10 {
		t.Fatalf("%d distinct tags after racing Adds, want exactly the limit 10", got)
	}
}
