package adapters

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/outbox"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/billing/app"
	"github.com/moa-run/moa/services/billing/domain"
)

// Metrics are billing's business figures. The currency label is an ISO 4217 code (validated
// before a step is recorded), so it stays bounded.
type Metrics struct {
	revenue  *prometheus.CounterVec
	refunded *prometheus.CounterVec
	declined *prometheus.CounterVec
	payments *prometheus.CounterVec
}

var _ app.Metrics = (*Metrics)(nil)

// NewMetrics registers billing's metrics on reg (or reuses those already registered there).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	return &Metrics{
		revenue: bus.RegisterOrGet(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "revenue_minor_total",
			Help: "Money charged successfully, in minor units (cents), by currency; refunds are moa_refunds_minor_total.",
		}, []string{"currency"})),
		refunded: bus.RegisterOrGet(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "refunds_minor_total",
			Help: "Money refunded successfully, in minor units, by currency.",
		}, []string{"currency"})),
		declined: bus.RegisterOrGet(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "payments_declined_total",
			Help: "Charges that failed at the provider, by failure code (voids of cancelled sagas are not counted).",
		}, []string{"code"})),
		payments: bus.RegisterOrGet(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "payments_total",
			Help: "Payment steps settled, by step (charge|refund) and status (SUCCEEDED|FAILED).",
		}, []string{"step", "status"})),
	}
}

// Settled counts a settled step.
func (m *Metrics) Settled(ctx context.Context, p domain.Payment) {
	outbox.AfterCommit(ctx, func() { m.settled(p) })
}

func (m *Metrics) settled(p domain.Payment) {
	m.payments.WithLabelValues(string(p.Step), string(p.Status)).Inc()
	switch {
	case p.Step == domain.Charge && p.Status == contracts.PaymentSucceeded:
		m.revenue.WithLabelValues(p.Currency).Add(float64(p.AmountMinor))
	case p.Step == domain.Refund && p.Status == contracts.PaymentSucceeded:
		m.refunded.WithLabelValues(p.Currency).Add(float64(p.AmountMinor))
	case p.Step == domain.Charge && p.Status == contracts.PaymentFailed && p.FailureCode != domain.FailCancelled:
		m.declined.WithLabelValues(p.FailureCode).Inc()
	}
}
