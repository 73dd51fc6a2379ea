// Package ports exposes the subscription service on the bus: its endpoints (the caller's
// identity verified from the access token the request carries, never read from a body) and
// its event consumers (the saga steps and the dashboard projection, each through the inbox).
package ports

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/subscription/app"
	"github.com/moa-run/moa/services/subscription/domain"
)

// Endpoints adapts the app to contracts.
type Endpoints struct {
	app *app.App
}

// Register adds every subscription endpoint to svc, the operator ones included. Who may call
// what is declared in contracts and checked by the bus with v before a handler runs; the
// handlers check ownership (a subscription's consumer, a product's seller).
func Register(svc *bus.Service, a *app.App, v *authn.Verifier) error {
	svc.UseVerifier(v)
	e := &Endpoints{app: a}
	for _, err := range []error{
		bus.Handle(svc, contracts.SubscriptionSubscribe, e.subscribe),
		bus.Handle(svc, contracts.SubscriptionGet, e.get),
		bus.Handle(svc, contracts.SubscriptionMine, e.mine),
		bus.Handle(svc, contracts.SubscriptionCancel, e.cancel),
		bus.Handle(svc, contracts.SubscriptionSubscribers, e.subscribers),
		bus.Handle(svc, contracts.SubscriptionDashboard, e.dashboard),
		bus.Handle(svc, contracts.SubscriptionStuck, e.stuck),
		bus.Handle(svc, contracts.SubscriptionRebuildDashboard, e.rebuild, bus.MaxInFlight(1), bus.MaxQueue(0)),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// actor is the caller, verified by the bus.
func (e *Endpoints) actor(ctx context.Context) app.Actor {
	p, _ := bus.Caller(ctx)
	return app.Actor{UserID: p.UserID, Role: p.Role}
}

func (e *Endpoints) subscribe(ctx context.Context, r contracts.SubscribeRequest) (contracts.Subscription, error) {
	a := e.actor(ctx)
	s, err := e.app.Subscribe(ctx, a, r.ProductID, r.IdempotencyKey)
	return view(s, err)
}

func (e *Endpoints) get(ctx context.Context, r contracts.SubscriptionRef) (contracts.Subscription, error) {
	a := e.actor(ctx)
	s, err := e.app.Get(ctx, a, r.ID)
	return view(s, err)
}

func (e *Endpoints) mine(ctx context.Context, _ contracts.Empty) (contracts.SubscriptionList, error) {
	a := e.actor(ctx)
	subs, err := e.app.Mine(ctx, a)
	if err != nil {
		return contracts.SubscriptionList{}, err
	}
	out := contracts.SubscriptionList{Items: make([]contracts.Subscription, 0, len(subs))}
	for _, s := range subs {
		out.Items = append(out.Items, s.View())
	}
	return out, nil
}

func (e *Endpoints) cancel(ctx context.Context, r contracts.SubscriptionRef) (contracts.Subscription, error) {
	a := e.actor(ctx)
	s, err := e.app.Cancel(ctx, a, r.ID)
	return view(s, err)
}

// subscribers serves the seller (with a token) and services (without one: the internal bus
// is trusted, the edge does not route this endpoint to anonymous clients).
func (e *Endpoints) subscribers(ctx context.Context, r contracts.ProductRefID) (contracts.Subscribers, error) {
	if _, user := bus.Caller(ctx); !user {
		return e.app.Subscribers(ctx, app.Actor{}, true, r.ProductID)
	}
	return e.app.Subscribers(ctx, e.actor(ctx), false, r.ProductID)
}

func (e *Endpoints) dashboard(ctx context.Context, _ contracts.Empty) (contracts.DashboardList, error) {
	a := e.actor(ctx)
	return e.app.Dashboard(ctx, a)
}

// The operator endpoints require an operator token (from auth.v1.operator_token; declared
// in contracts, checked by the bus): being on the bus is not enough, and an edge mistake
// routing them cannot expose them to end users.
func (e *Endpoints) stuck(ctx context.Context, r contracts.StuckSagasRequest) (contracts.StuckSagas, error) {
	return e.app.StuckSagas(ctx, r)
}

func (e *Endpoints) rebuild(ctx context.Context, _ contracts.Empty) (contracts.RebuildResult, error) {
	return e.app.RebuildDashboard(ctx)
}

func view(s domain.Subscription, err error) (contracts.Subscription, error) {
	if err != nil {
		return contracts.Subscription{}, err
	}
	return s.View(), nil
}
