// Package subscription is the marketplace's subscription service: it owns subscriptions and
// their saga (a choreography with the catalog, billing and notify: no orchestrator, no
// distributed transaction), the sweeper that drives stuck sagas on, and the sellers'
// dashboard projection. Its data is its own PostgreSQL database; every event it emits goes
// through its outbox and every event it consumes through its inbox.
//
// Settings (MOA_SUBSCRIPTION_<KEY>): see [Settings].
package subscription

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/outbox"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/subscription/adapters"
	"github.com/moa-run/moa/services/subscription/app"
	"github.com/moa-run/moa/services/subscription/ports"
)

// Defaults of the settings.
const (
	DefaultStuckAfter    = 30 * time.Second
	DefaultTimeoutAfter  = 10 * time.Minute
	DefaultSweepInterval = 5 * time.Second
	DefaultAckWait       = 30 * time.Second
	DefaultConcurrency   = 8
)

// Start migrates the database, starts the outbox relay, the saga and dashboard consumers and
// the sweeper, and serves the endpoints on env.Runtime.
func Start(ctx context.Context, env bus.Env) (_ bus.Component, err error) {
	rt := env.Runtime
	if rt == nil || env.PostgresURL == "" {
		return nil, errors.New("subscription: needs a runtime and a PostgreSQL URL")
	}
	log := env.Log(contracts.SubscriptionService.Name)
	cfg, err := readSettings(env)
	if err != nil {
		return nil, err
	}

	var stops bus.Stops
	defer func() {
		if err != nil {
			_ = stops.Stop(context.WithoutCancel(ctx))
		}
	}()

	pcfg, err := pgxpool.ParseConfig(env.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("subscription: database: %w", err)
	}
	// Every consumer holds a connection for its inbox transaction, and the relay, sweeper and
	// endpoints need theirs.
	pcfg.MaxConns = max(pcfg.MaxConns, int32(4*cfg.concurrency+8))
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("subscription: database: %w", err)
	}
	stops.Add(func(context.Context) error { pool.Close(); return nil })
	if err := adapters.Migrate(ctx, pool); err != nil {
		return nil, err
	}
	if err := outbox.Migrate(ctx, pool); err != nil {
		return nil, fmt.Errorf("subscription: outbox: %w", err)
	}
	// The streams it reads are created too, so that start order does not matter.
	streams := []contracts.StreamSpec{contracts.StreamSubscription, contracts.StreamCatalog, contracts.StreamBilling, contracts.StreamDeadLetter}
	if err := rt.EnsureStreams(ctx, streams...); err != nil {
		return nil, err
	}
	if err := rt.CheckDurability(ctx, contracts.StreamSubscription, contracts.StreamDeadLetter); err != nil {
		return nil, err
	}

	a := app.New(adapters.NewStore(pool), adapters.NewDashboard(pool, rt.JetStream()),
		adapters.NewCatalog(client.New(rt.NewClient(contracts.SubscriptionService.Name)).Catalog),
		adapters.NewMetrics(rt.Registry()), cfg.app, newID, log)

	relay := outbox.StartRelay(ctx, pool, rt, outbox.RelayOptions{Name: contracts.SubscriptionService.Name})
	stops.Add(relay.Stop)

	for _, spec := range ports.Consumers(cfg.ackWait) {
		c, err := rt.Consume(ctx, contracts.SubscriptionService.Name, spec, ports.Handler(a, spec.Durable),
			bus.WithKey(bus.SubjectKey), bus.WithConcurrency(cfg.concurrency),
			bus.WithConsumerMiddleware(outbox.Inbox(pool, spec.Durable)))
		if err != nil {
			return nil, err
		}
		stops.Add(func(context.Context) error { c.Stop(); return nil })
	}

	svc, err := rt.AddService(contracts.SubscriptionService)
	if err != nil {
		return nil, err
	}
	stops.Add(svc.Stop)
	if err := ports.Register(svc, a, authn.NewVerifier(rt.NewClient(contracts.SubscriptionService.Name))); err != nil {
		return nil, err
	}

	stopSweeper := startSweeper(a, cfg.sweepEvery, log)
	stops.Add(func(context.Context) error { stopSweeper(); return nil })
	log.Info("subscription started", "stuck_after", cfg.app.StuckAfter, "timeout_after", cfg.app.TimeoutAfter, "sweep_interval", cfg.sweepEvery)
	return bus.Stopper(stops.Stop), nil
}

// startSweeper runs the sweeper every interval until the returned stop is called.
func startSweeper(a *app.App, every time.Duration, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			sctx, scancel := context.WithTimeout(ctx, max(every, 10*time.Second))
			if _, err := a.Sweep(sctx); err != nil && ctx.Err() == nil {
				log.Warn("saga sweep failed; next one in a moment", "error", err)
			}
			scancel()
		}
	}()
	return func() { cancel(); wg.Wait() }
}

type settings struct {
	app         app.Config
	sweepEvery  time.Duration
	ackWait     time.Duration
	concurrency int
}

func readSettings(env bus.Env) (settings, error) {
	var s settings
	var err error
	for _, d := range []struct {
		s   bus.Setting
		dst *time.Duration
	}{{SettingStuckAfter, &s.app.StuckAfter}, {SettingTimeoutAfter, &s.app.TimeoutAfter},
		{SettingSweepInterval, &s.sweepEvery}, {SettingSagaAckWait, &s.ackWait}} {
		if *d.dst, err = env.Duration(d.s); err != nil {
			return s, err
		}
	}
	s.concurrency, err = env.Int(SettingConsumerConcurrency)
	return s, err
}

// newID makes time-ordered subscription ids (UUIDv7).
func newID() string {
	if id, err := uuid.NewV7(); err == nil {
		return id.String()
	}
	return uuid.NewString()
}
