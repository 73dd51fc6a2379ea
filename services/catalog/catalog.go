// Package catalog is the marketplace's product catalog service: sellers publish subscription
// products, consumers list, search and view them. It owns a PostgreSQL database (products, its
// outbox) and three NATS KV buckets (read cache, cache generations, view dedup). In the
// subscription saga it owns capacity: it reserves and releases seats (seat_reservations, one
// per subscription, through its inbox).
//
// Layout: domain (rules), app (use cases), adapters (PostgreSQL, the outbox, NATS KV), ports
// (endpoints and consumers); Start wires them. Domain and app name no wire DTO: ports map
// requests, responses and consumed events, adapters the events they write and the cache
// entries (services/layering_test.go).
//
// Settings (MOA_CATALOG_<KEY>): see [Settings].
package catalog

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/catalog/adapters"
	"github.com/moa-run/moa/services/catalog/app"
	"github.com/moa-run/moa/services/catalog/ports"
)

// Defaults of the settings.
const (
	DefaultCacheTTL   = 2 * time.Minute
	DefaultViewWindow = 24 * time.Hour
	// DefaultSagaAckWait is how soon a saga step delivered to an instance that died, or by a
	// consumer leader that died, comes back: the bus keeps every message it holds alive with
	// InProgress every AckWait/3, so it never limits a step's run. At 30 s, a kill of the node
	// leading the saga's consumers stalled the sagas in flight 30 s (the target is 10 s;
	// TestSagaFailoverKillAndFreeze in internal/sagasuite).
	DefaultSagaAckWait = 5 * time.Second
)

// seatConcurrency is how many subscriptions' seat events are handled at once per consumer.
const seatConcurrency = 8

// Start declares the catalog service: its database and outbox relay, its KV buckets, the
// cache and seat consumers, and its endpoints.
func Start(ctx context.Context, env bus.Env) (bus.Component, error) {
	cacheTTL, err := env.Duration(SettingCacheTTL)
	if err != nil {
		return nil, err
	}
	window, err := env.Duration(SettingViewWindow)
	if err != nil {
		return nil, err
	}
	ackWait, err := env.Duration(SettingSagaAckWait)
	if err != nil {
		return nil, err
	}
	maxDeliver, err := env.Int(SettingSagaMaxDeliver)
	if err != nil {
		return nil, err
	}
	return host.Start(ctx, env, host.Service{
		Spec: contracts.CatalogService,
		// The seat consumers hold a connection each for their inbox transactions, besides the
		// endpoints' and the relay's.
		Postgres: &host.Postgres{Migrate: adapters.Migrate, MaxConns: 2*seatConcurrency + 8},
		// The seat consumers read the subscription and billing streams: created here too, so
		// that start order does not matter.
		Streams: []contracts.StreamSpec{contracts.StreamCatalog, contracts.StreamSubscription, contracts.StreamBilling, contracts.StreamDeadLetter},
		Durable: []contracts.StreamSpec{contracts.StreamCatalog, contracts.StreamDeadLetter},
		Relay:   true,
		Build: func(ctx context.Context, d host.Deps) (host.Parts, error) {
			js := d.Runtime.JetStream()
			replicas := 1
			if d.Runtime.Conn().ConnectedClusterName() != "" {
				replicas = 3
			}
			// The buckets are start-up steps: replicas starting together with their cluster wait
			// out a JetStream API that is busy or not ready (bus.Runtime.Setup).
			var cache app.Cache = adapters.NoCache{}
			if cacheTTL > 0 {
				err := d.Runtime.Setup(ctx, "catalog cache buckets", func(ctx context.Context) (err error) {
					cache, err = adapters.NewCache(ctx, js, cacheTTL, replicas, d.Log)
					return err
				})
				if err != nil {
					return host.Parts{}, err
				}
			}
			var views *adapters.Views
			err := d.Runtime.Setup(ctx, "catalog views bucket", func(ctx context.Context) (err error) {
				views, err = adapters.NewViews(ctx, js, window, replicas)
				return err
			})
			if err != nil {
				return host.Parts{}, err
			}
			a := app.New(adapters.NewProducts(d.Pool), adapters.NewReadModel(d.Pool), cache, views, newID, d.Log)
			cs := []host.Consumer{{Spec: ports.CacheConsumer, Handler: ports.CacheInvalidation(a),
				Options: []bus.ConsumeOption{bus.WithKey(bus.SubjectKey), bus.WithConcurrency(8)}}}
			seats := app.NewSeats(adapters.Seat{}, cache, d.Log)
			for _, spec := range ports.SeatConsumers(ackWait, maxDeliver) {
				cs = append(cs, host.Consumer{Spec: spec, Handler: ports.SeatHandler(seats, spec.Durable), Inbox: true,
					Options: []bus.ConsumeOption{bus.WithKey(bus.SubjectKey), bus.WithConcurrency(seatConcurrency),
						bus.WithConsumerMiddleware(ports.InvalidateAfterCommit(seats))}})
			}
			return host.Parts{
				Endpoints: func(svc *bus.Service) error { return ports.Register(svc, a, authn.NewVerifier(d.Calls)) },
				Consumers: cs,
				Started:   []any{"cache_ttl", cacheTTL, "view_window", window},
			}, nil
		},
	})
}

// newID makes time-ordered product ids (UUIDv7), which keep the primary key index append-only.
func newID() string {
	if id, err := uuid.NewV7(); err == nil {
		return id.String()
	}
	return uuid.NewString()
}
