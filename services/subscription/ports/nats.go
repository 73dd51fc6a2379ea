// Package ports exposes the subscription service on the bus: its endpoints (the caller's
// identity verified from the access token the request carries, never read from a body) and
// its event consumers (the saga steps and the dashboard projection, each through the inbox).
// The wire types of contracts that come in and go back out are mapped here (wire.go), so the
// app and the domain never see them.
package ports

import (
	"context"
	"time"

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
		out.Items = append(out.Items, subscriptionView(s))
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
	actor, service := app.Actor{}, true
	if _, user := bus.Caller(ctx); user {
		actor, service = e.actor(ctx), false
	}
	consumers, err := e.app.Subscribers(ctx, actor, service, r.ProductID)
	if err != nil {
		return contracts.Subscribers{}, err
	}
	return contracts.Subscribers{ProductID: r.ProductID, ConsumerIDs: consumers}, nil
}

func (e *Endpoints) dashboard(ctx context.Context, _ contracts.Empty) (contracts.DashboardList, error) {
	a := e.actor(ctx)
	rows, err := e.app.Dashboard(ctx, a)
	if err != nil {
		return contracts.DashboardList{}, err
	}
	out := contracts.DashboardList{Items: make([]contracts.Dashboard, 0, len(rows))}
	for _, d := range rows {
		out.Items = append(out.Items, dashboardView(d))
	}
	return out, nil
}

// The operator endpoints require an operator token (from auth.v1.operator_token; declared
// in contracts, checked by the bus): being on the bus is not enough, and an edge mistake
// routing them cannot expose them to end users.
func (e *Endpoints) stuck(ctx context.Context, r contracts.StuckSagasRequest) (contracts.StuckSagas, error) {
	var age time.Duration // 0: the app's StuckAfter
	if r.OlderThanSeconds > 0 {
		age = secondsDuration(r.OlderThanSeconds)
	}
	n, subs, err := e.app.StuckSagas(ctx, age, r.Limit)
	if err != nil {
		return contracts.StuckSagas{}, err
	}
	out := contracts.StuckSagas{Count: n, Items: make([]contracts.StuckSaga, 0, len(subs))}
	for _, s := range subs {
		out.Items = append(out.Items, stuckView(s))
	}
	return out, nil
}

func (e *Endpoints) rebuild(ctx context.Context, _ contracts.Empty) (contracts.RebuildResult, error) {
	r, err := e.app.RebuildDashboard(ctx)
	if err != nil {
		return contracts.RebuildResult{}, err
	}
	return contracts.RebuildResult{Events: r.Events, Products: r.Products}, nil
}

func view(s domain.Subscription, err error) (contracts.Subscription, error) {
	if err != nil {
		return contracts.Subscription{}, err
	}
	return subscriptionView(s), nil
}

// secondsDuration is s seconds, saturating instead of overflowing.
func secondsDuration(s int64) time.Duration {
	const maxSeconds = int64(1<<63-1) / int64(time.Second)
	return time.Duration(min(s, maxSeconds)) * time.Second
}
