package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/chat/events"
	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/offlinepush"
	"github.com/loftchat/loft/presence"
)

// metrics are the server's Prometheus metrics. The histograms are fed by
// the store's and the chat server's hooks; everything else is read from
// the components when scraped.
type metrics struct {
	reg     *prometheus.Registry
	ack     prometheus.Histogram
	commits prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		ack: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "loft_ack_seconds", Help: "Time from a send frame being read to its ack being queued, fsync included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		commits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "loft_store_commit_seconds", Help: "Time from a batch's hand-off to Pebble to its fsync.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
	}
	m.reg.MustRegister(m.ack, m.commits, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watch registers the metrics read from the running components.
func (m *metrics) watch(srv *chat.Server, tracker *presence.Tracker, store *history.Store, push *offlinepush.Service, ev *events.Queue) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "loft_connections", Help: "Open WebSocket sessions."},
			func() float64 { return float64(srv.Stats().Connections) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "loft_devices_online", Help: "Authenticated devices online."},
			func() float64 { return float64(tracker.Count()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "loft_messages_stored_total", Help: "Messages stored durably (the newest message id)."},
			func() float64 { return float64(store.LastID()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "loft_deliveries_total", Help: "Inbox entries handed to online devices since start."},
			func() float64 { return float64(srv.Stats().Deliveries) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "loft_push_queue_depth", Help: "Pushes queued, due or scheduled."},
			func() float64 { n, _ := push.QueueDepth(); return float64(n) }),
		pushCollector{push},
		eventCollector{ev},
	)
}

// eventCollector reports webhook deliveries by result.
type eventCollector struct{ q *events.Queue }

var webhookTotal = prometheus.NewDesc("loft_webhook_deliveries_total",
	"Event webhook deliveries (one per event and endpoint) since start, by result: queued, delivered, retried (an attempt that failed), failed (dropped), lost (never queued).", []string{"result"}, nil)

func (c eventCollector) Describe(ch chan<- *prometheus.Desc) { ch <- webhookTotal }

func (c eventCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.q.Stats()
	for _, r := range []struct {
		name string
		n    uint64
	}{{"queued", s.Queued}, {"delivered", s.Delivered}, {"retried", s.Retried}, {"failed", s.Failed}, {"lost", s.Lost}} {
		ch <- prometheus.MustNewConstMetric(webhookTotal, prometheus.CounterValue, float64(r.n), r.name)
	}
}

func (m *metrics) handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

// pushCollector reports finished pushes by vendor and status.
type pushCollector struct{ push *offlinepush.Service }

var (
	pushTotal   = prometheus.NewDesc("loft_push_total", "Pushes finished since start, by vendor and outcome (pushed or failed).", []string{"vendor", "status"}, nil)
	pushWaiting = prometheus.NewDesc("loft_push_deciding", "Messages waiting out their grace period before the push decision.", nil, nil)
)

func (c pushCollector) Describe(ch chan<- *prometheus.Desc) { ch <- pushTotal; ch <- pushWaiting }

func (c pushCollector) Collect(ch chan<- prometheus.Metric) {
	counts, waiting := c.push.Counts()
	for _, pc := range counts {
		ch <- prometheus.MustNewConstMetric(pushTotal, prometheus.CounterValue, float64(pc.N), pc.Vendor, pc.Status)
	}
	ch <- prometheus.MustNewConstMetric(pushWaiting, prometheus.GaugeValue, float64(waiting))
}
