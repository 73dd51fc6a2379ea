package bus

import "github.com/prometheus/client_golang/prometheus"

// resilienceMetrics are the collectors of the client-side resilience layer and of the
// service-side queue. Labels are bounded: client and service names and endpoint subjects come
// from declarations, codes from the error catalogue.
type resilienceMetrics struct {
	retries            *prometheus.CounterVec // client, endpoint, code (of the failure retried)
	budgetExhausted    *prometheus.CounterVec // client, endpoint
	breakerState       *prometheus.GaugeVec   // client, endpoint
	breakerTransitions *prometheus.CounterVec // client, endpoint, to
	inflight           *prometheus.GaugeVec   // client, endpoint
	fallbacks          *prometheus.CounterVec // client, endpoint, outcome
	expired            *prometheus.CounterVec // service, name
}

// newResilienceMetrics registers (or finds, see register) the collectors on reg.
func newResilienceMetrics(reg prometheus.Registerer) *resilienceMetrics {
	return &resilienceMetrics{
		retries: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "client_retries_total",
			Help: "Retries made by typed clients, by the error code of the attempt that was retried.",
		}, []string{"client", "endpoint", "code"})),
		budgetExhausted: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "client_retry_budget_exhausted_total",
			Help: "Retries not made because the client's retry budget was spent.",
		}, []string{"client", "endpoint"})),
		breakerState: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "moa", Name: "client_breaker_state",
			Help: "Circuit breaker state per client and endpoint: 0 closed, 1 half-open, 2 open.",
		}, []string{"client", "endpoint"})),
		breakerTransitions: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "client_breaker_transitions_total",
			Help: "Circuit breaker state changes, by the state entered (open, half_open, closed).",
		}, []string{"client", "endpoint", "to"})),
		inflight: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "moa", Name: "client_in_flight",
			Help: "Typed client calls in flight per endpoint (the client-side bulkhead's occupancy).",
		}, []string{"client", "endpoint"})),
		fallbacks: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "client_fallbacks_total",
			Help: "Failed calls handed to a fallback, by outcome (served: a degraded reply; refused).",
		}, []string{"client", "endpoint", "outcome"})),
		expired: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "requests_expired_total",
			Help: "Requests not run because their deadline passed while they waited in the endpoint's queue.",
		}, []string{"service", "name"})),
	}
}
