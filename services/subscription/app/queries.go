package app

import (
	"context"
	"slices"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/subscription/domain"
)

// MaxMine bounds the list of a consumer's own subscriptions.
const MaxMine = 200

// Get returns one subscription to its consumer or the product's seller; to anyone else it does
// not exist.
func (a *App) Get(ctx context.Context, actor Actor, id string) (domain.Subscription, error) {
	s, err := a.store.Get(ctx, id)
	if err != nil {
		return s, err
	}
	if s.ConsumerID != actor.UserID && s.SellerID != actor.UserID {
		return domain.Subscription{}, contracts.ErrNotFound.Msg("no subscription %s", id)
	}
	return s, nil
}

// Mine lists the caller's subscriptions, newest first.
func (a *App) Mine(ctx context.Context, actor Actor) ([]domain.Subscription, error) {
	return a.store.ByConsumer(ctx, actor.UserID, MaxMine)
}

// Subscribers lists the consumers with an ACTIVE subscription to a product. A service calls
// it without a user (service is true: notify mailing subscribers about new terms); a user
// must be the product's seller. The consumer ids come sorted.
func (a *App) Subscribers(ctx context.Context, actor Actor, service bool, productID string) ([]string, error) {
	consumers, sellers, err := a.store.ActiveConsumers(ctx, productID)
	if err != nil {
		return nil, err
	}
	if !service {
		for _, s := range sellers {
			if s != actor.UserID {
				return nil, contracts.ErrForbidden.Msg("only the product's seller sees its subscribers")
			}
		}
	}
	slices.Sort(consumers)
	return consumers, nil
}

// Dashboard is the calling seller's projection, one row per product.
func (a *App) Dashboard(ctx context.Context, actor Actor) ([]DashboardRow, error) {
	if actor.Role != contracts.RoleSeller {
		return nil, contracts.ErrForbidden.Msg("the dashboard is for seller accounts")
	}
	return a.proj.BySeller(ctx, actor.UserID)
}

// Project feeds the dashboard. Facts are counted once per subscription however often their
// events arrive.
func (a *App) Project() Projection { return a.proj }

// RebuildDashboard empties the projection and replays the streams into it.
func (a *App) RebuildDashboard(ctx context.Context) (Rebuilt, error) {
	start := time.Now()
	r, err := a.proj.Rebuild(ctx)
	if err == nil {
		a.log.Info("dashboard rebuilt", "events", r.Events, "products", r.Products, "took", time.Since(start))
	}
	return r, err
}
