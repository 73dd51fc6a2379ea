// Package ports exposes billing on the bus: the payments endpoint (for the subscription's
// consumer or seller, verified from the access token) and the saga consumers that charge on
// catalog.seat_reserved and refund on subscription.cancel_requested, each through the inbox.
// It is where the contracts' DTOs meet billing: events and requests are mapped to app types
// here, and payments to their wire form.
package ports

import (
	"context"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/billing/app"
	"github.com/moa-run/moa/services/billing/domain"
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
			d := e.Data
			return a.ChargeSaga(ctx, app.Seat{SubscriptionID: d.SubscriptionID, ProductID: d.ProductID, ConsumerID: d.ConsumerID,
				SellerID: d.SellerID, AmountMinor: d.AmountMinor, Currency: d.Currency})
		})
	}
	return bus.OnEvent(contracts.SubscriptionCancelRequested, func(ctx context.Context, e bus.Event[contracts.SubscriptionCancelRequestedData]) error {
		if err := sameKey(e.Key, e.Data.SubscriptionID); err != nil {
			return err
		}
		d := e.Data
		return a.RefundSaga(ctx, app.Cancellation{SubscriptionID: d.SubscriptionID, ProductID: d.ProductID, ConsumerID: d.ConsumerID,
			SellerID: d.SellerID, RefundMinor: d.RefundMinor, Currency: d.Currency})
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
		caller, _ := bus.Caller(ctx)
		ps, err := a.Payments(ctx, caller.UserID, r.SubscriptionID)
		if err != nil {
			return contracts.PaymentList{}, err
		}
		// Items is never nil: the wire has [] for a subscription without payments.
		out := contracts.PaymentList{Items: make([]contracts.Payment, 0, len(ps))}
		for _, step := range ps {
			out.Items = append(out.Items, paymentView(step))
		}
		return out, nil
	})
}

// paymentView is a payment step's wire form.
func paymentView(p domain.Payment) contracts.Payment {
	return contracts.Payment{ID: p.ID, SubscriptionID: p.SubscriptionID, Kind: string(p.Step), AmountMinor: p.AmountMinor,
		Currency: p.Currency, Status: p.Status, ProviderRef: p.ProviderRef, FailureCode: p.FailureCode, CreatedAt: p.CreatedAt}
}
