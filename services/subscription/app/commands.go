package app

import (
	"context"
	"errors"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/subscription/domain"
)

// Subscribe starts a saga: it snapshots the product's price and seller from the catalog, then
// records the PENDING subscription and its subscription.requested event in one transaction.
// The rest happens asynchronously; the caller watches the state with get.
func (a *App) Subscribe(ctx context.Context, actor Actor, productID, idempotencyKey string) (domain.Subscription, error) {
	if actor.Role != contracts.RoleConsumer {
		return domain.Subscription{}, contracts.ErrForbidden.Msg("only consumer accounts subscribe")
	}
	if idempotencyKey != "" {
		s, err := a.store.ByIdempotencyKey(ctx, actor.UserID, idempotencyKey)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, contracts.ErrNotFound) {
			return domain.Subscription{}, err
		}
	}
	p, err := a.catalog.Product(ctx, productID)
	if errors.Is(err, contracts.ErrNotFound) {
		return domain.Subscription{}, contracts.ErrNotFound.OnField("product_id", "there is no product %s", productID)
	}
	if err != nil {
		return domain.Subscription{}, err
	}
	if p.SellerID == actor.UserID {
		return domain.Subscription{}, contracts.ErrForbidden.Msg("a seller cannot subscribe to their own product")
	}
	now := a.now()
	s := domain.Subscription{
		ID: a.newID(), ProductID: p.ID, ConsumerID: actor.UserID, SellerID: p.SellerID, State: domain.Pending,
		PriceMinor: p.PriceMinor, Currency: p.Currency, Period: p.Period, IdempotencyKey: idempotencyKey,
		CreatedAt: now, UpdatedAt: now,
	}
	s, existing, err := a.store.Create(ctx, s)
	if err != nil {
		return domain.Subscription{}, err
	}
	if !existing {
		a.metrics.Started()
		a.log.Debug("saga started", "subscription", s.ID, "product", s.ProductID, "consumer", s.ConsumerID)
	}
	return s, nil
}

// Cancel is the consumer cancelling an ACTIVE subscription: it moves to CANCELLING with a
// pro-rata refund and emits subscription.cancel_requested; billing refunds, the catalog
// releases the seat, and the saga ends CANCELLED once both happened. Cancelling again while
// it is CANCELLING or CANCELLED by the consumer returns the subscription as it is.
func (a *App) Cancel(ctx context.Context, actor Actor, id string) (domain.Subscription, error) {
	s, err := a.store.Get(ctx, id)
	if err != nil {
		return s, err
	}
	if s.ConsumerID != actor.UserID {
		return domain.Subscription{}, contracts.ErrNotFound.Msg("no subscription %s", id)
	}
	if s.Reason == domain.ReasonByConsumer && (s.State == domain.Cancelling || s.State == domain.Cancelled) {
		return s, nil
	}
	var from domain.State
	out, err := a.store.Transition(ctx, id, func(cur domain.Subscription) (domain.Outcome, error) {
		from = cur.State
		return domain.Apply(cur, domain.Input{Trigger: domain.OnCancel, At: a.now()})
	})
	if err != nil {
		return domain.Subscription{}, err
	}
	a.metrics.Moved(ctx, from, out.Next.State, out.Next.Reason)
	return out.Next, nil
}
