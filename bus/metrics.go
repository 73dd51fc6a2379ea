package bus

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the runtime's Prometheus collectors. Labels are bounded: service, kind and name
// come from declarations, code from the error catalogue, never from message content.
type metrics struct {
	handled  *prometheus.CounterVec   // service, kind, name, outcome (ok|rejected|error)
	errors   *prometheus.CounterVec   // service, kind, name, code
	latency  *prometheus.HistogramVec // service, kind, name
	panics   *prometheus.CounterVec   // service, kind, name
	shed     *prometheus.CounterVec   // service, name
	calls    *prometheus.CounterVec   // client, endpoint, code
	callTime *prometheus.HistogramVec // client, endpoint
	deadLet  *prometheus.CounterVec   // service, consumer
	redeliv  *prometheus.CounterVec   // service, consumer
	lag      *lagCollector            // stream, consumer (read from the server on scrape)
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		handled: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "handled_total",
			Help: "Messages handled, by service, kind (request|event), endpoint or consumer name and outcome: ok, rejected (a request refused for the caller's mistake: invalid, unauthenticated, forbidden, not_found, conflict) or error.",
		}, []string{"service", "kind", "name", "outcome"})),
		errors: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "handler_errors_total",
			Help: "Handler errors by stable error code.",
		}, []string{"service", "kind", "name", "code"})),
		latency: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "moa", Name: "handler_duration_seconds",
			Help:    "Handler latency.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"service", "kind", "name"})),
		panics: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "handler_panics_total",
			Help: "Handler panics recovered by the runtime.",
		}, []string{"service", "kind", "name"})),
		shed: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "requests_shed_total",
			Help: "Requests answered 'overloaded' because the endpoint's queue bound was reached.",
		}, []string{"service", "name"})),
		calls: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "client_calls_total",
			Help: "Typed client calls by endpoint subject and result code (ok on success).",
		}, []string{"client", "endpoint", "code"})),
		callTime: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "moa", Name: "client_call_duration_seconds",
			Help:    "Typed client call latency as the caller sees it.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"client", "endpoint"})),
		deadLet: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "dead_letters_total",
			Help: "Messages moved to the dead-letter stream.",
		}, []string{"service", "consumer"})),
		redeliv: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "redeliveries_total",
			Help: "Deliveries a consumer received that the server had delivered before: a failed or unacknowledged earlier delivery, or one held back for per-key order (a NotYet wait).",
		}, []string{"service", "consumer"})),
		lag: register(reg, newLagCollector()),
	}
}

// RegisterOrGet registers c on reg and returns it, or returns the collector already registered
// under its name (a service restarted on the same runtime, runtimes sharing a registry). A nil
// reg registers nothing; a clash with a foreign collector leaves c unregistered rather than
// stopping the service, which only loses that metric.
func RegisterOrGet[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// register registers c, or returns the collector already registered under the same name, so
// that several runtimes in one process can share a registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic("bus: registering metrics: " + err.Error())
	}
	return c
}
