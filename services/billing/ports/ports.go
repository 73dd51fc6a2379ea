// Package ports exposes billing on the bus: the payments endpoint (for the subscription's
// consumer or seller, verified from the access token) and the saga consumers that charge on
// catalog.seat_reserved and refund on subscription.cancel_requested, each through the inbox.
package ports

import (
	"context"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/billing/app"
)

// SagaBackoff and SagaMaxDeliver let a payment step ride out a few minutes of database, NATS
// or provider outage before it is dead-lettered.
var SagaBackoff = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second}

// SagaMaxDeliver bounds the attempts of a payment step.
const SagaMaxDeliver = 40

// Durable consumer names.
const (
	ChargeConsumer = "billing_charge"
	RefundConsumer = "billing_refund"
)

// Consumers declares billing's consumers.
func Consumers(ackWait time.Duration) []contracts.ConsumerSpec {
	return []contracts.ConsumerSpec{
		{Stream: contracts.StreamCatalog, Durable: ChargeConsumer, FilterSubjects: []string{contracts.SeatReserved.Filter()},
			AckWait: ackWait, MaxDeliver: SagaMaxDeliver, Backoff: SagaBackoff},
		{Stream: contracts.StreamSubscription, Durable: RefundConsumer, FilterSubjects: []string{contracts.SubscriptionCancelRequested.Filter()},
			AckWait: ackWait, MaxDeliver: SagaMaxDeliver, Backoff: SagaBackoff},
	}
}

// Handler returns the handler of the consumer named durable.
func Handler(a *app.App, durable string) bus.Handler {
	if durable == ChargeConsumer {
		return bus.OnEvent(contracts.SeatReserved, func(ctx context.Context, e bus.Event[contracts.SeatData]) error {
			if err := sameKey(e.Key, e.Data.SubscriptionID); err != nil {
				return err
			}
			return a.ChargeSaga(ctx, e.Data)
		})
	}
	return bus.OnEvent(contracts.SubscriptionCancelRequested, func(ctx context.Context, e bus.Event[contracts.SubscriptionCancelRequestedData]) error {
		if err := sameKey(e.Key, e.Data.SubscriptionID); err != nil {
			return err
		}
		return a.RefundSaga(ctx, e.Data)
	})
}

func sameKey(key, id string) error {
	if key != id {
		return bus.Permanent(contracts.ErrValidation.Msg("event key %q does not match subscription_id %q", key, id))
	}
	return nil
}

// Register adds billing's endpoint to svc. The bus checks the caller's token with v (the
// endpoint wants a signed-in user, see contracts.BillingPayments); the app lets only the
// subscription's consumer and the product's seller see the payments.
func Register(svc *bus.Service, a *app.App, v *authn.Verifier) error {
	svc.UseVerifier(v)
	return bus.Handle(svc, contracts.BillingPayments, func(ctx context.Context, r contracts.SubscriptionPaymentsRequest) (contracts.PaymentList, error) {
		p, _ := bus.Caller(ctx)
		return a.Payments(ctx, p.UserID, r.SubscriptionID)
	})
}
