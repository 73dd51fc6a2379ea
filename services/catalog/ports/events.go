package ports

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/catalog/app"
)

// CacheConsumer is the durable consumer through which the catalog invalidates its cache from
// its own change events. Replicas share it: the cache lives in NATS KV, so one replica's
// invalidation is seen by all.
var CacheConsumer = contracts.ConsumerSpec{
	Stream:  contracts.StreamCatalog,
	Durable: "catalog_cache_invalidation",
	FilterSubjects: []string{
		contracts.ProductCreated.Filter(), contracts.ProductChanged.Filter(),
		contracts.ProductTermsChanged.Filter(), contracts.ProductDeleted.Filter(),
	},
}

// CacheInvalidation invalidates what the cache holds about the event's product. Invalidating
// twice is harmless, so redeliveries need no inbox.
func CacheInvalidation(a *app.App) bus.Handler {
	inval := func(ctx context.Context, productID string) error { return a.Invalidate(ctx, productID) }
	mux := bus.NewEventMux()
	bus.On(mux, contracts.ProductCreated, func(ctx context.Context, e bus.Event[contracts.ProductCreatedData]) error {
		return inval(ctx, e.Key)
	})
	bus.On(mux, contracts.ProductChanged, func(ctx context.Context, e bus.Event[contracts.ProductChangedData]) error {
		return inval(ctx, e.Key)
	})
	bus.On(mux, contracts.ProductTermsChanged, func(ctx context.Context, e bus.Event[contracts.ProductTermsChangedData]) error {
		return inval(ctx, e.Key)
	})
	bus.On(mux, contracts.ProductDeleted, func(ctx context.Context, e bus.Event[contracts.ProductDeletedData]) error {
		return inval(ctx, e.Key)
	})
	return mux.Handler()
}
