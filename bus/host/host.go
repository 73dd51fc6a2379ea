// Package host runs a Moa service from its declaration. A service's Start is a composition
// root: it reads its settings, says what the service is (its store and migrations, the streams
// it needs, its endpoints, consumers, outbox relay and periodic jobs) and hands that to [Start].
// The host owns the rest: the database pool, the order of start, and the order of stop, so
// that every service starts and drains the same way:
//
//	start: store + migrations → build → streams (+ durability check) → relay → consumers → endpoints → jobs
//	stop:  endpoints (in-flight requests answered) → consumers → jobs → relay → closers → store
//
// A start that fails halfway stops what it started, in the same reverse order.
//
// It lives beside bus rather than in it because it composes bus with its outbox, which
// imports bus.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/outbox"
	"github.com/moa-run/moa/contracts"
)

// Service declares a service. Spec names it; at most one of Postgres and Mongo gives its store.
type Service struct {
	Spec     contracts.Service
	Postgres *Postgres
	Mongo    *Mongo
	// Streams are created (or checked to match) before anything consumes or publishes, so
	// that start order between services does not matter. Durable are those whose durability
	// on this deployment is checked (the service's own and the dead-letter stream, usually).
	Streams []contracts.StreamSpec
	Durable []contracts.StreamSpec
	// Relay starts the outbox relay over the Postgres pool.
	Relay bool
	// Build makes the service's parts from the store the host opened and migrated.
	Build func(ctx context.Context, d Deps) (Parts, error)
}

// Postgres is a service's PostgreSQL database. The host opens the pool on Env.PostgresURL,
// runs Migrate and the outbox's migrations (outbox and inbox tables), and closes it last.
type Postgres struct {
	Migrate func(ctx context.Context, pool *pgxpool.Pool) error
	// MaxConns, when larger than the URL's pool size, raises it: handlers that hold an inbox
	// transaction and open short ones beside it need more than the default.
	MaxConns int32
}

// Mongo is a service's document database: Env.MongoDatabase, or Database when unset.
type Mongo struct {
	Database string
	Migrate  func(ctx context.Context, db *mongo.Database) error
}

// Deps is what the host hands to Build.
type Deps struct {
	Env     bus.Env
	Runtime *bus.Runtime
	Log     *slog.Logger
	// Calls is the service's client for calls to other services (and its token verifier).
	Calls *bus.Client
	Pool  *pgxpool.Pool   // with Postgres
	DB    *mongo.Database // with Mongo
}

// Parts are what Build made.
type Parts struct {
	// Endpoints registers the service's endpoints (its ports' Register).
	Endpoints func(svc *bus.Service) error
	Consumers []Consumer
	Jobs      []*bus.Job
	// Closers release what Build acquired beside the store (write batchers...), once
	// everything that could use it stopped, before the store.
	Closers []func(ctx context.Context) error
	// Started is logged with "<service> started" once everything runs.
	Started []any
}

// Consumer declares one durable consumer.
type Consumer struct {
	Spec    contracts.ConsumerSpec
	Handler bus.Handler
	// Inbox makes the handler run in the service's inbox transaction (exactly-once effects),
	// inside the Options' middleware.
	Inbox        bool
	InboxOptions []outbox.InboxOption
	Options      []bus.ConsumeOption
}

// Component is a running service.
type Component struct {
	name  string
	stops bus.Stops
	once  sync.Once
	err   error
}

// Stop stops the service in the reverse order of its start. Calling it again does nothing.
func (c *Component) Stop(ctx context.Context) error {
	c.once.Do(func() { c.err = c.stops.Stop(ctx) })
	return c.err
}

// Start starts s on env.Runtime.
func Start(ctx context.Context, env bus.Env, s Service) (_ bus.Component, err error) {
	name := s.Spec.Name
	rt := env.Runtime
	if rt == nil {
		return nil, fmt.Errorf("%s: Env.Runtime is required", name)
	}
	c := &Component{name: name}
	defer func() {
		if err != nil {
			_ = c.Stop(context.WithoutCancel(ctx))
		}
	}()
	log := env.Log(name)
	d := Deps{Env: env, Runtime: rt, Log: log, Calls: rt.NewClient(name)}
	var rs bus.Stops // released last: relay, closers, store
	c.stops.Add(func(ctx context.Context) error { return rs.Stop(ctx) })
	if d.Pool, err = openPostgres(ctx, env, name, s.Postgres, &rs); err != nil {
		return nil, err
	}
	if d.Pool != nil && rt.Registry() != nil {
		// Registered for as long as the pool lives; a second instance of the service on the
		// same registry (tests) is left unreported rather than failing its start.
		pc := newPoolCollector(name, d.Pool)
		if rt.Registry().Register(pc) == nil {
			rs.Add(func(context.Context) error { rt.Registry().Unregister(pc); return nil })
		}
	}
	if d.DB, err = openMongo(ctx, env, rt, name, s.Mongo, &rs); err != nil {
		return nil, err
	}
	parts, err := s.Build(ctx, d)
	if err != nil {
		return nil, err
	}
	for _, f := range parts.Closers {
		rs.Add(f)
	}
	if err := rt.EnsureStreams(ctx, s.Streams...); err != nil {
		return nil, err
	}
	if len(s.Durable) > 0 {
		if err := rt.CheckDurability(ctx, s.Durable...); err != nil {
			return nil, err
		}
	}
	if s.Relay {
		if d.Pool == nil {
			return nil, fmt.Errorf("%s: an outbox relay needs a Postgres store", name)
		}
		relay := outbox.StartRelay(ctx, d.Pool, rt, outbox.RelayOptions{Name: name, Logger: log})
		rs.Add(relay.Stop)
	}
	// What follows stops before the relay, the closers and the store, in reverse: endpoints
	// first, then consumers, then jobs (which consumers may wake), so jobs are added first
	// though they start last.
	for _, j := range parts.Jobs {
		c.stops.Add(j.Stop)
	}
	for _, cd := range parts.Consumers {
		opts := cd.Options
		if cd.Inbox {
			if d.Pool == nil {
				return nil, fmt.Errorf("%s: consumer %s: an inbox needs a Postgres store", name, cd.Spec.Durable)
			}
			opts = append(opts[:len(opts):len(opts)], bus.WithConsumerMiddleware(outbox.Inbox(d.Pool, cd.Spec.Durable, cd.InboxOptions...)))
		}
		cons, err := rt.Consume(ctx, name, cd.Spec, cd.Handler, opts...)
		if err != nil {
			return nil, err
		}
		c.stops.Add(func(context.Context) error { cons.Stop(); return nil })
	}
	if parts.Endpoints != nil {
		svc, err := rt.AddService(s.Spec)
		if err != nil {
			return nil, err
		}
		// Service.Stop takes no new request and waits for those in flight (within ctx).
		c.stops.Add(svc.Stop)
		if err := parts.Endpoints(svc); err != nil {
			return nil, fmt.Errorf("%s: endpoints: %w", name, err)
		}
	}
	for _, j := range parts.Jobs {
		j.Start(ctx, log)
	}
	log.Info(name+" started", parts.Started...)
	return c, nil
}

func openPostgres(ctx context.Context, env bus.Env, name string, p *Postgres, rs *bus.Stops) (*pgxpool.Pool, error) {
	if p == nil {
		return nil, nil
	}
	if env.PostgresURL == "" {
		return nil, fmt.Errorf("%s: Env.PostgresURL is required", name)
	}
	cfg, err := pgxpool.ParseConfig(env.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("%s: database: %w", name, err)
	}
	cfg.MaxConns = max(cfg.MaxConns, p.MaxConns)
	if env.Runtime != nil && cfg.ConnConfig.Tracer == nil {
		cfg.ConnConfig.Tracer = queryTracer{tracer: env.Runtime.Tracer(), db: cfg.ConnConfig.Database}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: database: %w", name, err)
	}
	rs.Add(func(context.Context) error { pool.Close(); return nil })
	if p.Migrate != nil {
		if err := p.Migrate(ctx, pool); err != nil {
			return nil, err
		}
	}
	// Every Postgres service emits through the outbox or consumes through the inbox.
	if err := outbox.Migrate(ctx, pool); err != nil {
		return nil, fmt.Errorf("%s: outbox: %w", name, err)
	}
	return pool, nil
}

func openMongo(ctx context.Context, env bus.Env, rt *bus.Runtime, name string, m *Mongo, rs *bus.Stops) (*mongo.Database, error) {
	if m == nil {
		return nil, nil
	}
	if env.MongoURL == "" {
		return nil, fmt.Errorf("%s: Env.MongoURL is required", name)
	}
	opts := options.Client().ApplyURI(env.MongoURL)
	if rt != nil {
		if mon := mongoMonitor(rt.Tracer()); mon != nil {
			opts.SetMonitor(mon)
		}
	}
	mc, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: mongo: %w", name, err)
	}
	rs.Add(mc.Disconnect)
	if err := mc.Ping(ctx, nil); err != nil {
		return nil, fmt.Errorf("%s: mongo ping: %w", name, err)
	}
	dbName := env.MongoDatabase
	if dbName == "" {
		dbName = m.Database
	}
	db := mc.Database(dbName)
	if m.Migrate != nil {
		// Replicas starting together run the same steps at once (mongomigrate's steps are safe
		// to repeat); a document store that drops a connection under that (FerretDB did, on
		// concurrent index creation) or a collection created by the other replica meanwhile
		// is retried as a start-up step. Each attempt runs on ctx, not on the step's per-attempt
		// deadline: an index build on a large collection may take minutes.
		err := rt.Setup(ctx, name+" schema migrations", func(context.Context) error {
			err := m.Migrate(ctx, db)
			if racedMigration(err) {
				return bus.Transient(err)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return db, nil
}

// racedMigration reports a migration error that another replica migrating at once can cause:
// a dropped connection, or NamespaceExists (48) for a collection it created first.
func racedMigration(err error) bool {
	if err == nil {
		return false
	}
	if mongo.IsNetworkError(err) {
		return true
	}
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(48)
}

var _ bus.Component = (*Component)(nil)
