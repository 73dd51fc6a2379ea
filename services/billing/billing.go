// Package billing is the marketplace's billing service: it charges a subscription saga when
// its seat is reserved and refunds it when it is cancelled, through a payment-provider adapter
// (a simulated provider is built in: no real gateway is reachable from here). Its data is its
// own PostgreSQL database; a UNIQUE (subscription, step) constraint makes a second charge of a
// saga impossible, and an ambiguous provider answer is resolved by asking the provider; when
// the provider has no record yet, the charge is sent again under the same idempotency key (the
// provider books a key once), never given up while its first attempt may still land.
//
// Layout: domain (rules), app (use cases), adapters (PostgreSQL, the outbox, the simulated
// provider), ports (the endpoint and the saga consumers); Start wires them. Domain and app
// name no wire DTO: ports map requests, responses and consumed events, adapters the events
// they write (services/layering_test.go).
//
// Settings (MOA_BILLING_<KEY>): see [Settings].
package billing

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/billing/adapters"
	"github.com/moa-run/moa/services/billing/app"
	"github.com/moa-run/moa/services/billing/ports"
)

// Start declares the billing service: its database and outbox relay, the saga consumers and
// its endpoint.
func Start(ctx context.Context, env bus.Env) (bus.Component, error) {
	cfg, err := readSettings(env)
	if err != nil {
		return nil, err
	}
	return host.Start(ctx, env, host.Service{
		Spec: contracts.BillingService,
		// A handler holds its inbox transaction and opens short ones beside it (the step's
		// record, the provider's ledger): three connections per handler at most.
		Postgres: &host.Postgres{Migrate: adapters.Migrate, MaxConns: int32(2*3*cfg.concurrency + 8)},
		Streams:  []contracts.StreamSpec{contracts.StreamBilling, contracts.StreamCatalog, contracts.StreamSubscription, contracts.StreamDeadLetter},
		Durable:  []contracts.StreamSpec{contracts.StreamBilling, contracts.StreamDeadLetter},
		Relay:    true,
		Build: func(ctx context.Context, d host.Deps) (host.Parts, error) {
			a := app.New(adapters.NewStore(d.Pool), adapters.NewSimProvider(d.Pool, cfg.sim), adapters.NewMetrics(d.Runtime.Registry()), newID, d.Log)
			var cs []host.Consumer
			for _, spec := range ports.Consumers(cfg.ackWait) {
				cs = append(cs, host.Consumer{Spec: spec, Handler: ports.Handler(a, spec.Durable), Inbox: true,
					Options: []bus.ConsumeOption{bus.WithKey(bus.SubjectKey), bus.WithConcurrency(cfg.concurrency)}})
			}
			return host.Parts{
				Endpoints: func(svc *bus.Service) error { return ports.Register(svc, a, authn.NewVerifier(d.Calls)) },
				Consumers: cs,
				Started: []any{"provider", "sim", "decline_rate", cfg.sim.DeclineRate, "timeout_rate", cfg.sim.TimeoutRate,
					"late_rate", cfg.sim.LateRate, "late_delay", cfg.sim.LateDelay, "latency", cfg.sim.Latency},
			}, nil
		},
	})
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
