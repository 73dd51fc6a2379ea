package app

import (
	"context"
	"fmt"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/billing/domain"
)

// Seat is a reserved seat to charge: the saga's snapshot that catalog.seat_reserved carries.
type Seat struct {
	SubscriptionID string
	ProductID      string
	ConsumerID     string
	SellerID       string
	AmountMinor    int64
	Currency       string
}

// Cancellation is a cancelled saga to refund: what subscription.cancel_requested carries.
type Cancellation struct {
	SubscriptionID string
	ProductID      string
	ConsumerID     string
	SellerID       string
	RefundMinor    int64 // requested; bounded by what was charged
	Currency       string
}

// ChargeSaga charges a saga whose seat was reserved, once: the step is recorded before the
// provider is called, its result is settled with the payment event, and a repeated request
// (a redelivery, a re-emitted seat_reserved) finds the step and answers with its outcome.
func (a *App) ChargeSaga(ctx context.Context, d Seat) error {
	if d.AmountMinor < 0 || contracts.ValidateCurrency("currency", d.Currency) != nil {
		return bus.Permanent(contracts.ErrValidation.Msg("seat_reserved for %s carries no valid amount and currency", d.SubscriptionID))
	}
	if err := a.store.Lock(ctx, d.SubscriptionID); err != nil {
		return err
	}
	now := a.now()
	cur, err := a.store.Begin(ctx, domain.Payment{ID: a.newID(), SubscriptionID: d.SubscriptionID, Step: domain.Charge,
		ProductID: d.ProductID, ConsumerID: d.ConsumerID, SellerID: d.SellerID, AmountMinor: d.AmountMinor,
		Currency: d.Currency, Status: contracts.PaymentPending, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return err
	}
	if cur.Settled() {
		return a.store.Reemit(ctx, cur)
	}
	p, err := a.resolve(ctx, cur, true)
	if err != nil {
		return err
	}
	return a.settle(ctx, p)
}

// RefundSaga handles a cancellation: it voids the charge if nobody charged yet (a seat_reserved
// arriving later then charges nothing), settles a charge a crash or a timeout left unresolved
// (looked up, and voided at the provider when it has no record, so it cannot land late), and refunds
// the requested amount bounded by what was charged — zero included, so the saga always hears
// refund_issued and can finish.
func (a *App) RefundSaga(ctx context.Context, d Cancellation) error {
	if err := a.store.Lock(ctx, d.SubscriptionID); err != nil {
		return err
	}
	now := a.now()
	charge, err := a.store.ClaimCharge(ctx, domain.Payment{ID: a.newID(), SubscriptionID: d.SubscriptionID, Step: domain.Charge,
		ProductID: d.ProductID, ConsumerID: d.ConsumerID, SellerID: d.SellerID, Currency: d.Currency,
		Status: contracts.PaymentFailed, FailureCode: domain.FailCancelled, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return err
	}
	if !charge.Settled() {
		// We hold the saga's lock, so no handler is working on this charge: a crash or a
		// timeout left it. It is looked up, or voided, never sent.
		if charge, err = a.resolve(ctx, charge, false); err != nil {
			return err
		}
		if err := a.settle(ctx, charge); err != nil {
			return err
		}
	}
	cur, err := a.store.Begin(ctx, domain.Payment{ID: a.newID(), SubscriptionID: d.SubscriptionID, Step: domain.Refund,
		ProductID: d.ProductID, ConsumerID: d.ConsumerID, SellerID: d.SellerID,
		AmountMinor: domain.RefundAmount(d.RefundMinor, charge), Currency: charge.Currency,
		Status: contracts.PaymentPending, ProviderRef: charge.ProviderRef, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return err
	}
	if cur.Settled() {
		return a.store.Reemit(ctx, cur)
	}
	if cur.ProviderRef == "" {
		cur.ProviderRef = charge.ProviderRef
	}
	p, err := a.resolve(ctx, cur, true)
	if err != nil {
		return err
	}
	return a.settle(ctx, p)
}

// resolve brings an unsettled step to its final status. mayCall false only looks up.
func (a *App) resolve(ctx context.Context, p domain.Payment, mayCall bool) (domain.Payment, error) {
	action := domain.Next(p)
	if action == domain.Lookup {
		r, found, err := a.provider.Lookup(ctx, p.IdempotencyKey())
		if err != nil {
			return p, fmt.Errorf("billing: lookup %s: %w", p.IdempotencyKey(), err)
		}
		if found {
			a.log.Info("unsettled payment step resolved by lookup", "subscription", p.SubscriptionID, "step", p.Step, "succeeded", r.Succeeded)
			return settled(p, r), nil
		}
		action = domain.AfterLookupMiss(mayCall)
		a.log.Info("payment outcome unknown and the provider has no record yet", "subscription", p.SubscriptionID, "step", p.Step,
			"resend_under_same_key", action == domain.Call)
	}
	if action == domain.Void && p.Step == domain.Charge {
		r, err := a.provider.Void(ctx, p.IdempotencyKey(), Money{Minor: p.AmountMinor, Currency: p.Currency})
		if err != nil {
			return p, fmt.Errorf("billing: void %s: %w", p.IdempotencyKey(), err)
		}
		return settled(p, r), nil
	}
	if action != domain.Call || !mayCall {
		return p, contracts.ErrConflict.Msg("payment step %s of %s cannot be resolved here", p.Step, p.SubscriptionID)
	}
	if p.AmountMinor == 0 {
		// Nothing to move: a free product, or a refund of a charge that did not happen.
		return settled(p, Result{Succeeded: true}), nil
	}
	var r Result
	var err error
	amount := Money{Minor: p.AmountMinor, Currency: p.Currency}
	if p.Step == domain.Charge {
		r, err = a.provider.Charge(ctx, p.IdempotencyKey(), amount)
	} else {
		r, err = a.provider.Refund(ctx, p.IdempotencyKey(), p.ProviderRef, amount)
	}
	if err != nil {
		if merr := a.store.MarkUnknown(context.WithoutCancel(ctx), p.ID); merr != nil {
			a.log.Warn("could not record an unknown payment outcome; the attempt count still forces a lookup", "error", merr)
		}
		return p, fmt.Errorf("%w: %s %s: %w", errUnknown, p.Step, p.SubscriptionID, err)
	}
	return settled(p, r), nil
}

func settled(p domain.Payment, r Result) domain.Payment {
	p.ProviderRef = r.Ref
	if r.Succeeded {
		p.Status, p.FailureCode = contracts.PaymentSucceeded, ""
	} else {
		p.Status, p.FailureCode = contracts.PaymentFailed, r.FailureCode
		if p.FailureCode == "" {
			p.FailureCode = domain.FailDeclined
		}
	}
	return p
}

// Payments lists a subscription's steps, charge first, to its consumer or the product's seller.
func (a *App) Payments(ctx context.Context, userID, subscriptionID string) ([]domain.Payment, error) {
	ps, err := a.store.List(ctx, subscriptionID)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if p.ConsumerID != userID && p.SellerID != userID {
			return nil, contracts.ErrNotFound.Msg("no payments for subscription %s", subscriptionID)
		}
	}
	return ps, nil
}
