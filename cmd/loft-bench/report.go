package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// metric is one figure of a result.
type metric struct {
	Name  string
	Value float64
	Unit  string
}

// result is what a scenario measured.
type result struct {
	Scenario string
	Params   map[string]any
	Metrics  []metric
	Errors   []string // problems seen: wrong, lost or duplicate deliveries, error frames
}

func (r *result) add(name string, value float64, unit string) {
	r.Metrics = append(r.Metrics, metric{name, value, unit})
}

// addLatency adds p50/p99/p99.9/max of h, recorded in microseconds, as ms.
func (r *result) addLatency(name string, h *hdrhistogram.Histogram) {
	if h.TotalCount() == 0 {
		return
	}
	for _, q := range []struct {
		suffix string
		v      int64
	}{
		{"p50", h.ValueAtQuantile(50)},
		{"p99", h.ValueAtQuantile(99)},
		{"p99.9", h.ValueAtQuantile(99.9)},
		{"max", h.Max()},
	} {
		r.add(name+"_"+q.suffix, float64(q.v)/1000, "ms")
	}
}

func (r *result) errorf(format string, args ...any) {
	if len(r.Errors) < 20 {
		r.Errors = append(r.Errors, fmt.Sprintf(format, args...))
	}
}

// newHistogram records latencies from 1 µs to 100 s at 3 significant digits.
func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, 100_000_000, 3)
}

// writeTable prints results as an aligned table.
func writeTable(w io.Writer, results []*result) {
	for _, r := range results {
		fmt.Fprintf(w, "\n== %s", r.Scenario)
		for _, k := range sortedKeys(r.Params) {
			fmt.Fprintf(w, " %s=%v", k, r.Params[k])
		}
		fmt.Fprintln(w)
		for _, m := range r.Metrics {
			fmt.Fprintf(w, "  %-32s %14s %s\n", m.Name, formatValue(m.Value), m.Unit)
		}
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  ERROR %s\n", e)
		}
	}
}

func formatValue(v float64) string {
	switch {
	case v >= 1000:
		s := fmt.Sprintf("%.0f", v)
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		return b.String()
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// writeJSON prints results as one JSON document.
func writeJSON(w io.Writer, results []*result) error {
	type out struct {
		Scenario string             `json:"scenario"`
		Params   map[string]any     `json:"params"`
		Metrics  map[string]float64 `json:"metrics"`
		Units    map[string]string  `json:"units"`
		Errors   []string           `json:"errors"`
	}
	list := make([]out, len(results))
	for i, r := range results {
		o := out{Scenario: r.Scenario, Params: r.Params, Metrics: map[string]float64{}, Units: map[string]string{}, Errors: r.Errors}
		if o.Errors == nil {
			o.Errors = []string{}
		}
		for _, m := range r.Metrics {
			o.Metrics[m.Name] = m.Value
			o.Units[m.Name] = m.Unit
		}
		list[i] = o
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"results": list})
}

// progress prints a live status line to w once a second until stopped.
type progress struct {
	w       io.Writer
	label   atomic.Pointer[string]
	counter []*atomic.Int64 // the counters shown, named by names
	names   []string
	stop    chan struct{}
	done    sync.WaitGroup
}

// startProgress shows the given counters and their rate per second.
func startProgress(w io.Writer, label string, names []string, counters []*atomic.Int64) *progress {
	p := &progress{w: w, names: names, counter: counters, stop: make(chan struct{})}
	p.label.Store(&label)
	if w == nil {
		return p
	}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		last := make([]int64, len(counters))
		for {
			select {
			case <-p.stop:
				fmt.Fprintln(w)
				return
			case <-t.C:
			}
			var b strings.Builder
			fmt.Fprintf(&b, "\r%s %4.0fs", *p.label.Load(), time.Since(start).Seconds())
			for i, c := range counters {
				v := c.Load()
				fmt.Fprintf(&b, "  %s %s (%s/s)", names[i], formatValue(float64(v)), formatValue(float64(v-last[i])))
				last[i] = v
			}
			b.WriteString("   ")
			io.WriteString(w, b.String())
		}
	}()
	return p
}

func (p *progress) setLabel(s string) { p.label.Store(&s) }

func (p *progress) end() {
	close(p.stop)
	p.done.Wait()
}
