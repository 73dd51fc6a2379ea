// Package search is the search history service: it records the searches of signed-in users
// (from the catalog's catalog.searched events and from search.v1.record calls) in its own
// MongoDB database, and answers recent searches per user, popular searches over a sliding
// window of hourly buckets, and prefix suggestions.
//
// Layout: domain (rules), app (use cases), adapters (MongoDB), ports (endpoints and the event
// consumer); Start wires them.
//
// Settings (MOA_SEARCH_<KEY>): see [Settings].
package search

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/search/adapters"
	"github.com/moa-run/moa/services/search/app"
	"github.com/moa-run/moa/services/search/ports"
)

// DefaultDatabase is the database used when the environment names none.
const DefaultDatabase = "search"

// Start connects to the service's MongoDB database, migrates it, registers the search
// endpoints and starts the catalog.searched consumer and the janitor.
func Start(ctx context.Context, env bus.Env) (bus.Component, error) {
	rt := env.Runtime
	if rt == nil {
		return nil, errors.New("search: Env.Runtime is required")
	}
	if env.MongoURL == "" {
		return nil, errors.New("search: Env.MongoURL is required")
	}
	log := env.Log(contracts.SearchService.Name)
	concurrency, err := env.Int(SettingConsumerConcurrency)
	if err != nil {
		return nil, err
	}
	janitorEvery, err := env.Duration(SettingJanitorInterval)
	if err != nil {
		return nil, err
	}

	mc, err := mongo.Connect(options.Client().ApplyURI(env.MongoURL))
	if err != nil {
		return nil, fmt.Errorf("search: mongo: %w", err)
	}
	c := &component{mongo: mc, log: log}
	fail := func(err error) (bus.Component, error) {
		_ = c.Stop(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := mc.Ping(ctx, nil); err != nil {
		return fail(fmt.Errorf("search: mongo ping: %w", err))
	}
	name := env.MongoDatabase
	if name == "" {
		name = DefaultDatabase
	}
	db := mc.Database(name)
	if err := adapters.Migrate(ctx, db); err != nil {
		return fail(err)
	}
	a := app.New(adapters.NewRepository(db))

	// The consumer reads the catalog's stream and dead-letters into DLQ: both must exist even
	// when search starts before the catalog. EnsureStreams applies the same declarations the
	// catalog does, so it never changes them.
	if err := rt.EnsureStreams(ctx, contracts.StreamCatalog, contracts.StreamDeadLetter); err != nil {
		return fail(err)
	}
	if c.svc, err = rt.AddService(contracts.SearchService); err != nil {
		return fail(err)
	}
	verifier := authn.NewVerifier(rt.NewClient(contracts.SearchService.Name))
	if err := ports.RegisterEndpoints(c.svc, a, verifier); err != nil {
		return fail(fmt.Errorf("search: endpoints: %w", err))
	}
	if c.consumer, err = ports.ConsumeCatalogSearched(ctx, rt, a, concurrency); err != nil {
		return fail(err)
	}
	jctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.stopJanitor, c.janitorDone = cancel, make(chan struct{})
	go janitor(jctx, a, janitorEvery, log, c.janitorDone)
	return c, nil
}

// component is the started service.
type component struct {
	mongo       *mongo.Client
	log         *slog.Logger
	svc         *bus.Service
	consumer    *bus.Consumer
	stopJanitor context.CancelFunc
	janitorDone chan struct{}
}

// Stop stops taking requests and events, waits for the ones being handled (within ctx), then
// closes the store. The runtime would stop the endpoints and the consumer at its own Close;
// doing it here lets a host stop this service alone.
func (c *component) Stop(ctx context.Context) error {
	var errs []error
	if c.svc != nil {
		errs = append(errs, c.svc.Stop(ctx))
	}
	if c.consumer != nil {
		c.consumer.Stop()
	}
	if c.stopJanitor != nil {
		c.stopJanitor()
		<-c.janitorDone
	}
	errs = append(errs, c.mongo.Disconnect(ctx))
	return errors.Join(errs...)
}

// janitor deletes what left every window, because the document store has no TTL indexes that
// work on FerretDB as well as on MongoDB.
func janitor(ctx context.Context, a *app.App, every time.Duration, log *slog.Logger, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := a.Expire(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("expiring old searches failed; retrying at the next tick", "error", err)
		case n > 0:
			log.Info("expired old searches and counters", "documents", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
