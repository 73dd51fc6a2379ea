// Package log is the blog's visit log: it counts the views of published posts (log.v1.record_view,
// the edge's page-view event), deduplicated per visitor per window, in total, per UTC day and
// per referring host, ranks the posts viewed most over a sliding window of hourly buckets, and
// emits log.post_popular once per post per threshold. It learns which posts exist, their
// author and title, from the post service's events, and drops deleted posts. Its data is its
// own MongoDB database (the embedded FerretDB in tests and `moa dev`).
//
// Layout: domain (rules), app (use cases), adapters (MongoDB, the outbox), ports (endpoints
// and the post events consumer); Start wires them.
//
// Settings (MOA_LOG_<KEY>): see [Settings].
package log

import (
	"context"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/docinbox"
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/log/adapters"
	"github.com/moa-run/moa/services/log/app"
	"github.com/moa-run/moa/services/log/ports"
)

// DefaultDatabase is the database used when the environment names none.
const DefaultDatabase = "log"

// inboxRetention is how long the inbox remembers handled post events: far longer than any
// redelivery (the post documents' receipts cover older replays).
const inboxRetention = 7 * 24 * time.Hour

// Start declares the log service: its MongoDB database, the log endpoints, the post events
// consumer, the outbox relay and the janitor.
func Start(ctx context.Context, env bus.Env) (bus.Component, error) {
	window, err := env.Duration(SettingWindow)
	if err != nil {
		return nil, err
	}
	raw, err := env.String(SettingThresholds)
	if err != nil {
		return nil, err
	}
	thresholds, err := ParseThresholds(raw)
	if err != nil {
		return nil, err
	}
	concurrency, err := env.Int(SettingConsumerConcurrency)
	if err != nil {
		return nil, err
	}
	relayEvery, err := env.Duration(SettingRelayInterval)
	if err != nil {
		return nil, err
	}
	janitorEvery, err := env.Duration(SettingJanitorInterval)
	if err != nil {
		return nil, err
	}
	return host.Start(ctx, env, host.Service{
		Spec:  contracts.LogService,
		Mongo: &host.Mongo{Database: DefaultDatabase, Migrate: adapters.Migrate},
		// It publishes on its own stream, consumes the post service's and dead-letters: all
		// must exist whatever starts first.
		Streams: []contracts.StreamSpec{contracts.StreamLog, contracts.StreamPost, contracts.StreamDeadLetter},
		Durable: []contracts.StreamSpec{contracts.StreamLog, contracts.StreamDeadLetter},
		Build: func(ctx context.Context, d host.Deps) (host.Parts, error) {
			outbox := adapters.NewOutbox(d.DB, d.Runtime, d.Log)
			a := app.New(adapters.NewRepository(d.DB), outbox, app.Options{Window: window, Thresholds: thresholds, Log: d.Log})
			inbox := docinbox.Inbox(d.DB, ports.PostConsumer.Durable)
			return host.Parts{
				Endpoints: func(svc *bus.Service) error { return ports.RegisterEndpoints(svc, a, authn.NewVerifier(d.Calls)) },
				Consumers: []host.Consumer{ports.PostEvents(a, inbox, concurrency)},
				Jobs: []*bus.Job{
					bus.Every("log outbox relay", relayEvery, func(ctx context.Context) error {
						_, err := outbox.Relay(ctx)
						return err
					}),
					// FerretDB has no TTL indexes: the janitor deletes what left every window.
					bus.Every("log janitor", janitorEvery, func(ctx context.Context) error {
						n, err := a.Expire(ctx)
						if err != nil {
							return err
						}
						m, err := docinbox.Cleanup(ctx, d.DB, inboxRetention)
						if n+m > 0 {
							d.Log.Info("expired old visits, buckets and inbox records", "documents", n+m)
						}
						return err
					}).Immediately(),
				},
				Started: []any{"thresholds", thresholds, "window", window},
			}, nil
		},
	})
}
