package adapters

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/outbox"
	"github.com/moa-run/moa/services/subscription/app"
	"github.com/moa-run/moa/services/subscription/domain"
)

// Metrics are the saga's Prometheus metrics.
type Metrics struct {
	started   prometheus.Counter
	activated prometheus.Counter
	cancelled *prometheus.CounterVec
	illegal   *prometheus.CounterVec
	nudged    *prometheus.CounterVec
	timeout   prometheus.Counter
	stuck     prometheus.Gauge
}

var _ app.Metrics = (*Metrics)(nil)

// NewMetrics registers the saga's metrics on reg (or reuses those already registered there).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	return &Metrics{
		started: bus.RegisterOrGet(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "moa", Name: "subscriptions_started_total",
			Help: "Subscribe sagas started (new PENDING subscriptions; idempotent repeats are not counted).",
		})),
		activated: bus.RegisterOrGet(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "moa", Name: "subscriptions_activated_total",
			Help: "Subscriptions that became ACTIVE (seat held and payment taken).",
		})),
		cancelled: bus.RegisterOrGet(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "subscriptions_cancelled_total",
			Help: "Subscriptions that reached CANCELLED, by reason (by_consumer, payment_failed, seat_unavailable, timed_out).",
		}, []string{"reason"})),
		illegal: bus.RegisterOrGet(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "saga_illegal_transitions_total",
			Help: "Saga events the subscription state machine rejected (duplicates, late events), by trigger.",
		}, []string{"trigger"})),
		nudged: bus.RegisterOrGet(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "saga_nudges_total",
			Help: "Saga steps the sweeper re-emitted for stuck sagas, by state.",
		}, []string{"state"})),
		timeout: bus.RegisterOrGet(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "moa", Name: "saga_timeouts_total",
			Help: "PENDING sagas the sweeper compensated after their deadline (reason timed_out).",
		})),
		stuck: bus.RegisterOrGet(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "moa", Name: "sagas_stuck",
			Help: "Sagas in PENDING or CANCELLING for longer than the stuck deadline, at the last sweep.",
		})),
	}
}

// Started counts a saga begun.
func (m *Metrics) Started() { m.started.Inc() }

// Moved counts the arrivals in ACTIVE and CANCELLED; the other moves are steps within a saga.
func (m *Metrics) Moved(ctx context.Context, from, to domain.State, reason string) {
	if from == to {
		return
	}
	switch to {
	case domain.Active:
		outbox.AfterCommit(ctx, m.activated.Inc)
	case domain.Cancelled:
		c := m.cancelled.WithLabelValues(reason)
		outbox.AfterCommit(ctx, c.Inc)
	}
}

// IllegalTransition counts a rejected saga event.
func (m *Metrics) IllegalTransition(ctx context.Context, t domain.Trigger) {
	outbox.AfterCommit(ctx, m.illegal.WithLabelValues(string(t)).Inc)
}

// Nudged counts a re-emitted step.
func (m *Metrics) Nudged(s domain.State) { m.nudged.WithLabelValues(string(s)).Inc() }

// TimedOut counts a compensated PENDING saga.
func (m *Metrics) TimedOut() { m.timeout.Inc() }

// Stuck sets the stuck gauge.
func (m *Metrics) Stuck(n int64) { m.stuck.Set(float64(n)) }
