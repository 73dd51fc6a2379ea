package client

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// SubscriptionClient calls the subscription service. Subscribe, Cancel and Mine act for the
// consumer whose access token ctx carries (bus.WithAuthToken); Get for that consumer or the
// product's seller; Dashboard for a seller; Subscribers for the product's seller, or for a
// service calling without a user token.
type SubscriptionClient struct{ c *bus.Client }

// NewSubscriptionClient returns the subscription client over c (client.New builds all clients).
func NewSubscriptionClient(c *bus.Client) *SubscriptionClient { return &SubscriptionClient{c: c} }

// Subscribe starts subscribing the caller to a product. The saga runs asynchronously: the
// subscription comes back PENDING, and Get shows it ACTIVE or CANCELLED later. A non-empty
// idempotencyKey makes a retry return the same subscription instead of starting another.
func (c *SubscriptionClient) Subscribe(ctx context.Context, productID, idempotencyKey string) (contracts.Subscription, error) {
	return bus.Call(ctx, c.c, contracts.SubscriptionSubscribe, contracts.SubscribeRequest{ProductID: productID, IdempotencyKey: idempotencyKey},
		idempotentIf(idempotencyKey != "")...)
}

// Get returns one subscription.
func (c *SubscriptionClient) Get(ctx context.Context, id string) (contracts.Subscription, error) {
	return bus.Call(ctx, c.c, contracts.SubscriptionGet, contracts.SubscriptionRef{ID: id})
}

// Mine lists the caller's subscriptions, newest first.
func (c *SubscriptionClient) Mine(ctx context.Context) (contracts.SubscriptionList, error) {
	return bus.Call(ctx, c.c, contracts.SubscriptionMine, contracts.Empty{})
}

// Cancel cancels the caller's ACTIVE subscription: a pro-rata refund and the seat released,
// asynchronously (the subscription comes back CANCELLING). Cancelling twice is harmless.
func (c *SubscriptionClient) Cancel(ctx context.Context, id string) (contracts.Subscription, error) {
	return bus.Call(ctx, c.c, contracts.SubscriptionCancel, contracts.SubscriptionRef{ID: id}, bus.Idempotent())
}

// Subscribers lists the consumers with an ACTIVE subscription to a product.
func (c *SubscriptionClient) Subscribers(ctx context.Context, productID string) (contracts.Subscribers, error) {
	return bus.Call(ctx, c.c, contracts.SubscriptionSubscribers, contracts.ProductRefID{ProductID: productID})
}

// Dashboard returns the calling seller's per-product numbers.
func (c *SubscriptionClient) Dashboard(ctx context.Context) (contracts.DashboardList, error) {
	return bus.Call(ctx, c.c, contracts.SubscriptionDashboard, contracts.Empty{})
}

// Stuck lists sagas in progress past their deadline (operator; internal bus only).
func (c *SubscriptionClient) Stuck(ctx context.Context, req contracts.StuckSagasRequest) (contracts.StuckSagas, error) {
	return bus.Call(ctx, c.c, contracts.SubscriptionStuck, req)
}

// RebuildDashboard rebuilds the dashboard projection from the streams (operator; internal
// bus only).
func (c *SubscriptionClient) RebuildDashboard(ctx context.Context) (contracts.RebuildResult, error) {
	return bus.Call(ctx, c.c, contracts.SubscriptionRebuildDashboard, contracts.Empty{}, bus.NoRetry())
}

// idempotentIf marks a call safe to retry when it carries an idempotency key.
func idempotentIf(ok bool) []bus.CallOption {
	if ok {
		return []bus.CallOption{bus.Idempotent()}
	}
	return nil
}
