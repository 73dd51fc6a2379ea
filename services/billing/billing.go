// Package billing is the marketplace's billing service: it charges a subscription saga when
// its seat is reserved and refunds it when it is cancelled, through a payment-provider adapter
// (a simulated provider is built in: no real gateway is reachable from here). Its data is its
// own PostgreSQL database; a UNIQUE (subscription, step) constraint makes a second charge of a
// saga impossible, and an ambiguous provider answer is resolved by asking the provider; when
// the provider has no record yet, the charge is sent again under the same idempotency key (the
// provider books a key once), never given up while its first attempt may still land.
//
// Settings (MOA_BILLING_<KEY>): see [Settings].
package billing

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
	"github.com/moa-run/moa/services/billing/adapters"
	"github.com/moa-run/moa/services/billing/app"
	"github.com/moa-run/moa/services/billing/ports"
)

// Start migrates billing's database, starts its relay and saga consumers and serves its
// endpoint on env.Runtime.
func Start(ctx context.Context, env bus.Env) (_ bus.Component, err error) {
	rt := env.Runtime
	if rt == nil || env.PostgresURL == "" {
		return nil, errors.New("billing: needs a runtime and a PostgreSQL URL")
	}
	log := env.Log(contracts.BillingService.Name)
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
		return nil, fmt.Errorf("billing: database: %w", err)
	}
	// A handler holds its inbox transaction and opens short ones beside it (the step's record,
	// the provider's ledger): three connections per handler at most.
	pcfg.MaxConns = max(pcfg.MaxConns, int32(2*3*cfg.concurrency+8))
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("billing: database: %w", err)
	}
	stops.Add(func(context.Context) error { pool.Close(); return nil })
	if err := adapters.Migrate(ctx, pool); err != nil {
		return nil, err
	}
	if err := outbox.Migrate(ctx, pool); err != nil {
		return nil, fmt.Errorf("billing: outbox: %w", err)
	}
	streams := []contracts.StreamSpec{contracts.StreamBilling, contracts.StreamCatalog, contracts.StreamSubscription, contracts.StreamDeadLetter}
	if err := rt.EnsureStreams(ctx, streams...); err != nil {
		return nil, err
	}
	if err := rt.CheckDurability(ctx, contracts.StreamBilling, contracts.StreamDeadLetter); err != nil {
		return nil, err
	}

	a := app.New(adapters.NewStore(pool), adapters.NewSimProvider(pool, cfg.sim), newID, log)
	relay := outbox.StartRelay(ctx, pool, rt, outbox.RelayOptions{Name: contracts.BillingService.Name})
	stops.Add(relay.Stop)
	for _, spec := range ports.Consumers(cfg.ackWait) {
		c, err := rt.Consume(ctx, contracts.BillingService.Name, spec, ports.Handler(a, spec.Durable),
			bus.WithKey(bus.SubjectKey), bus.WithConcurrency(cfg.concurrency),
			bus.WithConsumerMiddleware(outbox.Inbox(pool, spec.Durable)))
		if err != nil {
			return nil, err
		}
		stops.Add(func(context.Context) error { c.Stop(); return nil })
	}
	svc, err := rt.AddService(contracts.BillingService)
	if err != nil {
		return nil, err
	}
	stops.Add(svc.Stop)
	if err := ports.Register(svc, a, authn.NewVerifier(rt.NewClient(contracts.BillingService.Name))); err != nil {
		return nil, err
	}
	log.Info("billing started", "provider", "sim", "decline_rate", cfg.sim.DeclineRate, "timeout_rate", cfg.sim.TimeoutRate,
		"late_rate", cfg.sim.LateRate, "late_delay", cfg.sim.LateDelay, "latency", cfg.sim.Latency)
	return bus.Stopper(stops.Stop), nil
}

type settings struct {
	sim         adapters.SimConfig
	ackWait     time.Duration
	concurrency int
}

func readSettings(env bus.Env) (settings, error) {
	var s settings
	// PROVIDER only accepts "sim" (its declaration says so): read it to refuse anything else.
	if _, err := env.String(SettingProvider); err != nil {
		return s, err
	}
	for _, r := range []struct {
		s   bus.Setting
		dst *float64
	}{{SettingSimDeclineRate, &s.sim.DeclineRate}, {SettingSimTimeoutRate, &s.sim.TimeoutRate}, {SettingSimLateRate, &s.sim.LateRate}} {
		f, err := env.Float(r.s)
		if err != nil {
			return s, err
		}
		*r.dst = f
	}
	for _, d := range []struct {
		s   bus.Setting
		dst *time.Duration
	}{{SettingSimLatency, &s.sim.Latency}, {SettingSimLateDelay, &s.sim.LateDelay}, {SettingSagaAckWait, &s.ackWait}} {
		x, err := env.Duration(d.s)
		if err != nil {
			return s, err
		}
		*d.dst = x
	}
	seed, err := env.Int(SettingSimSeed)
	if err != nil {
		return s, err
	}
	s.sim.Seed = uint64(seed)
	s.concurrency, err = env.Int(SettingConsumerConcurrency)
	return s, err
}

// newID makes time-ordered payment ids (UUIDv7).
func newID() string {
	if id, err := uuid.NewV7(); err == nil {
		return id.String()
	}
	return uuid.NewString()
}
