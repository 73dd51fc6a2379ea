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
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/host"
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
	// DefaultAckWait is how soon a saga step delivered to an instance that died, or by a
	// consumer leader that died, comes back: the bus keeps every message it holds alive with
	// InProgress every AckWait/3, so it never limits a step's run. At 30 s, a kill of the node
	// leading the saga's consumers stalled the sagas in flight 30 s (the target is 10 s;
	// TestSagaFailoverKillAndFreeze in internal/sagasuite).
	DefaultAckWait     = 5 * time.Second
	DefaultConcurrency = 8
)

// Start declares the subscription service: its database and outbox relay, the saga and
// dashboard consumers, the endpoints and the sweeper job.
func Start(ctx context.Context, env bus.Env) (bus.Component, error) {
	cfg, err := readSettings(env)
	if err != nil {
		return nil, err
	}
	return host.Start(ctx, env, host.Service{
		Spec: contracts.SubscriptionService,
		// Every consumer holds a connection for its inbox transaction, and the relay, sweeper
		// and endpoints need theirs.
		Postgres: &host.Postgres{Migrate: adapters.Migrate, MaxConns: int32(4*cfg.concurrency + 8)},
		// The streams it reads are created too, so that start order does not matter.
		Streams: []contracts.StreamSpec{contracts.StreamSubscription, contracts.StreamCatalog, contracts.StreamBilling, contracts.StreamDeadLetter},
		Durable: []contracts.StreamSpec{contracts.StreamSubscription, contracts.StreamDeadLetter},
		Relay:   true,
		Build: func(ctx context.Context, d host.Deps) (host.Parts, error) {
			rt := d.Runtime
			a := app.New(adapters.NewStore(d.Pool), adapters.NewDashboard(d.Pool, rt.JetStream()),
				adapters.NewCatalog(client.New(d.Calls).Catalog), adapters.NewMetrics(rt.Registry()), cfg.app, newID, d.Log)
			var cs []host.Consumer
			for _, spec := range ports.Consumers(cfg.ackWait) {
				cs = append(cs, host.Consumer{Spec: spec, Handler: ports.Handler(a, spec.Durable), Inbox: true,
					Options: []bus.ConsumeOption{bus.WithKey(bus.SubjectKey), bus.WithConcurrency(cfg.concurrency)}})
			}
			sweep := func(ctx context.Context) error { _, err := a.Sweep(ctx); return err }
			return host.Parts{
				Endpoints: func(svc *bus.Service) error { return ports.Register(svc, a, authn.NewVerifier(d.Calls)) },
				Consumers: cs,
				// The sweeper drives stuck sagas on.
				Jobs:    []*bus.Job{bus.Every("saga sweep", cfg.sweepEvery, sweep).Timeout(max(cfg.sweepEvery, 10*time.Second))},
				Started: []any{"stuck_after", cfg.app.StuckAfter, "timeout_after", cfg.app.TimeoutAfter, "sweep_interval", cfg.sweepEvery},
			}, nil
		},
	})
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
