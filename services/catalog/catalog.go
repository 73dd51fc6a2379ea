// Package catalog is the marketplace's product catalog service: sellers publish subscription
// products, consumers list, search and view them. It owns a PostgreSQL database (products, its
// outbox) and three NATS KV buckets (read cache, cache generations, view dedup). In the
// subscription saga it owns capacity: it reserves and releases seats (seat_reservations, one
// per subscription, through its inbox).
//
// Settings (MOA_CATALOG_<KEY>): see [Settings].
package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/outbox"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/catalog/adapters"
	"github.com/moa-run/moa/services/catalog/app"
	"github.com/moa-run/moa/services/catalog/ports"
)

// Defaults of the settings.
const (
	DefaultCacheTTL    = 2 * time.Minute
	DefaultViewWindow  = 24 * time.Hour
	DefaultSagaAckWait = 30 * time.Second
)

// seatConcurrency is how many subscriptions' seat events are handled at once per consumer.
const seatConcurrency = 8

// Start migrates the catalog's database, starts its outbox relay and cache consumer, and
// serves its endpoints on env.Runtime.
func Start(ctx context.Context, env bus.Env) (_ bus.Component, err error) {
	rt := env.Runtime
	if rt == nil || env.PostgresURL == "" {
		return nil, errors.New("catalog: needs a runtime and a PostgreSQL URL")
	}
	log := env.Log(contracts.CatalogService.Name)
	cacheTTL, err := env.Duration(SettingCacheTTL)
	if err != nil {
		return nil, err
	}
	window, err := env.Duration(SettingViewWindow)
	if err != nil {
		return nil, err
	}

	var stops bus.Stops
	defer func() {
		if err != nil {
			_ = stops.Stop(context.WithoutCancel(ctx))
		}
	}()

	ackWait, err := env.Duration(SettingSagaAckWait)
	if err != nil {
		return nil, err
	}
	maxDeliver, err := env.Int(SettingSagaMaxDeliver)
	if err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(env.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("catalog: database: %w", err)
	}
	// The seat consumers hold a connection each for their inbox transactions, besides the
	// endpoints' and the relay's.
	pcfg.MaxConns = max(pcfg.MaxConns, 2*seatConcurrency+8)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("catalog: database: %w", err)
	}
	stops.Add(func(context.Context) error { pool.Close(); return nil })
	if err := adapters.Migrate(ctx, pool); err != nil {
		return nil, err
	}
	if err := outbox.Migrate(ctx, pool); err != nil {
		return nil, fmt.Errorf("catalog: outbox: %w", err)
	}
	// The seat consumers read the subscription and billing streams: created here too, so that
	// start order does not matter.
	if err := rt.EnsureStreams(ctx, contracts.StreamCatalog, contracts.StreamSubscription, contracts.StreamBilling, contracts.StreamDeadLetter); err != nil {
		return nil, err
	}
	if err := rt.CheckDurability(ctx, contracts.StreamCatalog, contracts.StreamDeadLetter); err != nil {
		return nil, err
	}

	replicas := 1
	if rt.Conn().ConnectedClusterName() != "" {
		replicas = 3
	}
	var cache app.Cache = adapters.NoCache{}
	if cacheTTL > 0 {
		if cache, err = adapters.NewCache(ctx, rt.JetStream(), cacheTTL, replicas, log); err != nil {
			return nil, err
		}
	}
	views, err := adapters.NewViews(ctx, rt.JetStream(), window, replicas)
	if err != nil {
		return nil, err
	}
	a := app.New(adapters.NewProducts(pool), adapters.NewReadModel(pool), cache, views, newID, log)

	relay := outbox.StartRelay(ctx, pool, rt, outbox.RelayOptions{Name: contracts.CatalogService.Name})
	stops.Add(relay.Stop)

	cons, err := rt.Consume(ctx, contracts.CatalogService.Name, ports.CacheConsumer, ports.CacheInvalidation(a),
		bus.WithKey(bus.SubjectKey), bus.WithConcurrency(8))
	if err != nil {
		return nil, err
	}
	stops.Add(func(context.Context) error { cons.Stop(); return nil })

	seats := app.NewSeats(adapters.Seat{}, cache, log)
	for _, spec := range ports.SeatConsumers(ackWait, maxDeliver) {
		c, err := rt.Consume(ctx, contracts.CatalogService.Name, spec, ports.SeatHandler(seats, spec.Durable),
			bus.WithKey(bus.SubjectKey), bus.WithConcurrency(seatConcurrency),
			bus.WithConsumerMiddleware(ports.InvalidateAfterCommit(seats), outbox.Inbox(pool, spec.Durable)))
		if err != nil {
			return nil, err
		}
		stops.Add(func(context.Context) error { c.Stop(); return nil })
	}

	svc, err := rt.AddService(contracts.CatalogService)
	if err != nil {
		return nil, err
	}
	stops.Add(svc.Stop)
	if err := ports.Register(svc, a, authn.NewVerifier(rt.NewClient(contracts.CatalogService.Name))); err != nil {
		return nil, err
	}
	log.Info("catalog started", "cache_ttl", cacheTTL, "view_window", window)
	return bus.Stopper(stops.Stop), nil
}

// newID makes time-ordered product ids (UUIDv7), which keep the primary key index append-only.
func newID() string {
	if id, err := uuid.NewV7(); err == nil {
		return id.String()
	}
	return uuid.NewString()
}
