package edge

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/contracts"
)

// metrics of one gateway, labelled with its instance id so that several gateways can share a
// registry (tests, benchmarks).
type metrics struct {
	conns        prometheus.Gauge
	users        prometheus.Gauge
	framesIn     prometheus.Counter
	framesOut    prometheus.Counter
	pushes       prometheus.Counter
	limited      prometheus.Counter
	slow         prometheus.Counter
	authFailures prometheus.Counter
	closes       *prometheus.CounterVec
	calls        *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, instance string) *metrics {
	labels := prometheus.Labels{"edge": instance}
	m := &metrics{
		conns: prometheus.NewGauge(prometheus.GaugeOpts{Name: "moa_edge_connections",
			Help: "open WebSocket connections", ConstLabels: labels}),
		users: prometheus.NewGauge(prometheus.GaugeOpts{Name: "moa_edge_users",
			Help: "distinct signed-in users connected", ConstLabels: labels}),
		framesIn: prometheus.NewCounter(prometheus.CounterOpts{Name: "moa_edge_frames_in_total",
			Help: "client frames received", ConstLabels: labels}),
		framesOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "moa_edge_frames_out_total",
			Help: "frames written to clients", ConstLabels: labels}),
		pushes: prometheus.NewCounter(prometheus.CounterOpts{Name: "moa_edge_pushes_total",
			Help: "push frames queued to connections", ConstLabels: labels}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{Name: "moa_edge_rate_limited_total",
			Help: "client frames refused by the rate limit", ConstLabels: labels}),
		slow: prometheus.NewCounter(prometheus.CounterOpts{Name: "moa_edge_slow_consumers_total",
			Help: "connections closed because their send queue overflowed", ConstLabels: labels}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "moa_edge_auth_failures_total",
			Help: "auth and refresh frames with a rejected token", ConstLabels: labels}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "moa_edge_closes_total",
			Help: "connections closed by the edge, by close code", ConstLabels: labels}, []string{"code"}),
		calls: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "moa_edge_call_seconds",
			Help: "mediated calls by method and outcome code", ConstLabels: labels,
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15}},
			[]string{"method", "code"}),
	}
	for _, c := range []prometheus.Collector{m.conns, m.users, m.framesIn, m.framesOut, m.pushes, m.limited,
		m.slow, m.authFailures, m.closes, m.calls} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				// A clash with a foreign collector must not stop the edge; it only loses a metric.
				continue
			}
		}
	}
	return m
}

func (m *metrics) observeCall(method string, err error, took time.Duration) {
	code := "ok"
	if err != nil {
		code = contracts.AsError(err).Code
	}
	m.calls.WithLabelValues(method, code).Observe(took.Seconds())
}

func closeLabel(code int) string { return strconv.Itoa(code) }
