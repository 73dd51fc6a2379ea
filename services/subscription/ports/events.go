package ports

import (
	"context"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/subscription/app"
	"github.com/moa-run/moa/services/subscription/domain"
)

// SagaBackoff is the retry schedule of the saga's consumers. With SagaMaxDeliver it rides out
// a dependency outage of a few minutes (a database or NATS restart) before a message is
// dead-lettered: a saga step is not poison just because PostgreSQL was restarting.
var SagaBackoff = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second}

// SagaMaxDeliver bounds the attempts of a saga step (see SagaBackoff).
const SagaMaxDeliver = 40

// SagaSpec is a saga consumer's declaration: keyed by subscription, patient with outages.
func SagaSpec(stream contracts.StreamSpec, durable string, ackWait time.Duration, filters ...string) contracts.ConsumerSpec {
	return contracts.ConsumerSpec{Stream: stream, Durable: durable, FilterSubjects: filters,
		AckWait: ackWait, MaxDeliver: SagaMaxDeliver, Backoff: SagaBackoff}
}

// Consumers returns the subscription service's consumers: the saga steps from the catalog
// and from billing, and the dashboard projection from its own stream and billing's.
func Consumers(ackWait time.Duration) []contracts.ConsumerSpec {
	return []contracts.ConsumerSpec{
		SagaSpec(contracts.StreamCatalog, "subscription_saga_catalog", ackWait,
			contracts.SeatUnavailable.Filter(), contracts.SeatReleased.Filter()),
		SagaSpec(contracts.StreamBilling, "subscription_saga_billing", ackWait,
			contracts.PaymentSucceededEvent.Filter(), contracts.PaymentFailedEvent.Filter(), contracts.RefundIssuedEvent.Filter()),
		SagaSpec(contracts.StreamSubscription, "subscription_dashboard", ackWait,
			contracts.SubscriptionActivated.Filter(), contracts.SubscriptionCancelled.Filter()),
		SagaSpec(contracts.StreamBilling, "subscription_dashboard_billing", ackWait,
			contracts.PaymentSucceededEvent.Filter(), contracts.RefundIssuedEvent.Filter()),
	}
}

// Handler returns the handler of the consumer named durable.
func Handler(a *app.App, durable string) bus.Handler {
	switch durable {
	case "subscription_saga_catalog", "subscription_saga_billing":
		return SagaSteps(a)
	default:
		return DashboardFeed(a)
	}
}

// SagaSteps moves subscriptions on the other services' saga events. It runs inside the
// inbox, so the transition, its events and the inbox row commit together.
func SagaSteps(a *app.App) bus.Handler {
	mux := bus.NewEventMux()
	seat := func(t domain.Trigger) func(context.Context, bus.Event[contracts.SeatData]) error {
		return func(ctx context.Context, e bus.Event[contracts.SeatData]) error {
			if err := sameKey(e.Key, e.Data.SubscriptionID); err != nil {
				return err
			}
			return a.Step(ctx, e.Data.SubscriptionID, domain.Input{Trigger: t})
		}
	}
	pay := func(t domain.Trigger) func(context.Context, bus.Event[contracts.PaymentData]) error {
		return func(ctx context.Context, e bus.Event[contracts.PaymentData]) error {
			if err := sameKey(e.Key, e.Data.SubscriptionID); err != nil {
				return err
			}
			return a.Step(ctx, e.Data.SubscriptionID, domain.Input{Trigger: t, AmountMinor: e.Data.AmountMinor})
		}
	}
	bus.On(mux, contracts.SeatUnavailable, seat(domain.OnSeatUnavailable))
	bus.On(mux, contracts.SeatReleased, seat(domain.OnSeatReleased))
	bus.On(mux, contracts.PaymentSucceededEvent, pay(domain.OnPaymentSucceeded))
	bus.On(mux, contracts.PaymentFailedEvent, pay(domain.OnPaymentFailed))
	bus.On(mux, contracts.RefundIssuedEvent, pay(domain.OnRefundIssued))
	return mux.Handler()
}

// DashboardFeed counts terminal events and billing's charges and refunds into the projection.
func DashboardFeed(a *app.App) bus.Handler {
	p := a.Project()
	mux := bus.NewEventMux()
	bus.On(mux, contracts.SubscriptionActivated, func(ctx context.Context, e bus.Event[contracts.SubscriptionTerminalData]) error {
		return p.Activated(ctx, at(terminal(e.Data), e.OccurredAt))
	})
	bus.On(mux, contracts.SubscriptionCancelled, func(ctx context.Context, e bus.Event[contracts.SubscriptionTerminalData]) error {
		return p.Cancelled(ctx, at(terminal(e.Data), e.OccurredAt))
	})
	bus.On(mux, contracts.PaymentSucceededEvent, func(ctx context.Context, e bus.Event[contracts.PaymentData]) error {
		return p.Charged(ctx, paidAt(payment(e.Data), e.OccurredAt))
	})
	bus.On(mux, contracts.RefundIssuedEvent, func(ctx context.Context, e bus.Event[contracts.PaymentData]) error {
		return p.Refunded(ctx, paidAt(payment(e.Data), e.OccurredAt))
	})
	return mux.Handler()
}

// at and paidAt date a fact by its event, so the dashboard's days do not depend on when (or
// how late) the projection counts it.
func at(t domain.Terminal, when time.Time) domain.Terminal { t.At = when; return t }

func paidAt(p domain.Payment, when time.Time) domain.Payment { p.At = when; return p }

// sameKey rejects an event whose subject key and body disagree about the subscription.
func sameKey(key, id string) error {
	if key != id {
		return bus.Permanent(contracts.ErrValidation.Msg("event key %q does not match subscription_id %q", key, id))
	}
	return nil
}
