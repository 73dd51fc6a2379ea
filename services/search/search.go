// Package search is the search history service: it records the searches of signed-in users
// (from the catalog's catalog.searched events and from search.v1.record calls) in its own
// MongoDB database, and answers recent searches per user, popular searches over a sliding
// window of hourly buckets, and prefix suggestions.
//
// Layout: domain (rules), app (use cases), adapters (MongoDB), ports (endpoints and the event
// consumer); Start wires them. Domain and app name no wire DTO: ports map requests, responses
// and events to and from domain and app types (services/layering_test.go).
//
// The histories and counters are kept in a few large documents (adapters/shards.go), which
// holds some 250,000 users' histories before MongoDB's 16 MiB document limit. Past that, a
// search whose user's history would grow a full shard fails on its own with a message naming
// the limit (the other searches of its batch succeed, and changes that do not grow the shard
// are still written): it is dead-lettered after its retries (its popular count is in, once),
// until the histories get more shards (a schema step).
//
// The popular list is served from memory, refreshed from the store at most twice a second:
// other instances' counts show up to a second late (app/popular.go).
//
// Settings (MOA_SEARCH_<KEY>): see [Settings].
package search

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/search/adapters"
	"github.com/moa-run/moa/services/search/app"
	"github.com/moa-run/moa/services/search/ports"
)

// DefaultDatabase is the database used when the environment names none.
const DefaultDatabase = "search"

// Start declares the search service: its MongoDB database, the search endpoints, the
// catalog.searched consumer and the janitor.
func Start(ctx context.Context, env bus.Env) (bus.Component, error) {
	concurrency, err := env.Int(SettingConsumerConcurrency)
	if err != nil {
		return nil, err
	}
	janitorEvery, err := env.Duration(SettingJanitorInterval)
	if err != nil {
		return nil, err
	}
	return host.Start(ctx, env, host.Service{
		Spec:  contracts.SearchService,
		Mongo: &host.Mongo{Database: DefaultDatabase, Migrate: adapters.Migrate},
		// The consumer reads the catalog's stream and dead-letters into DLQ: both must exist
		// even when search starts before the catalog.
		Streams: []contracts.StreamSpec{contracts.StreamCatalog, contracts.StreamDeadLetter},
		Build: func(ctx context.Context, d host.Deps) (host.Parts, error) {
			a := app.New(adapters.NewRepository(d.DB))
			return host.Parts{
				Endpoints: func(svc *bus.Service) error {
					return ports.RegisterEndpoints(svc, a, authn.NewVerifier(d.Calls))
				},
				Consumers: []host.Consumer{ports.CatalogSearched(a, concurrency)},
				// The document store has no TTL indexes that work on FerretDB as well as on
				// MongoDB: the janitor deletes what left every window.
				Jobs: []*bus.Job{bus.Every("search janitor", janitorEvery, func(ctx context.Context) error {
					n, err := a.Expire(ctx)
					if n > 0 {
						d.Log.Info("expired old searches and counters", "documents", n)
					}
					return err
				}).Immediately()},
			}, nil
		},
	})
}
