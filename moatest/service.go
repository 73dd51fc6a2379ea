package moatest

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
)

// This file must not import bus/outbox, bus/host, edge or anything importing them: their
// in-package tests import moatest, and Go forbids the cycle.

// With says what a service needs besides NATS, and how to configure it.
type With struct {
	// Postgres gives the service a fresh database (Env.PostgresURL) and the test a pool on
	// it (Kit.Postgres).
	Postgres bool
	// Mongo gives the service a database of its own on the document store (Env.MongoURL,
	// Env.MongoDatabase) and the test a handle on it (Kit.Mongo).
	Mongo bool
	// MongoURL puts the service's database on this server instead of the shared one (implies
	// Mongo): a document store the test stops and starts itself. The test owns that server,
	// so the kit leaves the database on it be when the test ends.
	MongoURL string
	// Settings are the service's settings by key as Start reads them, without the
	// MOA_<SERVICE>_ prefix: {"CACHE_TTL": "1s"}.
	Settings map[string]string
	// Declared is the service's Settings list. As in production, reading an undeclared
	// setting is an error; a key of Settings it does not declare fails the test.
	Declared []bus.Setting
	// NoIssuer leaves auth.v1.keys to the service under test (auth itself): no test issuer is
	// started, and Kit.As fails the test.
	NoIssuer bool
	// NATS is the server to run on (to put several services on one bus); nil starts one.
	NATS *NATSServer
	// Logger receives the runtime's and the service's logs; nil discards them.
	Logger *slog.Logger
}

// Kit is one running service under test, and what the test needs around it. C is what the
// service's start function returns: bus.Component for a plain Start, or the service's own
// component type when it exposes more (auth.StartComponent).
type Kit[C bus.Component] struct {
	Runtime   *bus.Runtime
	Client    *client.Client    // typed clients on Runtime
	Issuer    *authntest.Issuer // mints tokens for any role; nil with NoIssuer
	Env       bus.Env           // what Start got; Restart and Replica reuse it
	NATS      *NATSServer       // the server Runtime is on
	Postgres  *pgxpool.Pool     // on Env.PostgresURL (With.Postgres), for assertions
	Mongo     *mongo.Database   // Env.MongoDatabase (With.Mongo), for assertions
	Component C                 // the running instance; zero while stopped

	t       testing.TB
	start   func(context.Context, bus.Env) (C, error)
	running bool
}

// startTimeout bounds one Start: migrations on a cold PostgreSQL take a few seconds.
const startTimeout = 90 * time.Second

// stopTimeout bounds one Stop.
const stopTimeout = 20 * time.Second

// Service boots the service start starts (its package's Start or an equivalent) with the
// dependencies w asks for, each fresh for this test, and stops everything when the test
// ends. A Start error fails the test.
func Service[C bus.Component](t testing.TB, start func(context.Context, bus.Env) (C, error), w With) *Kit[C] {
	t.Helper()
	for key := range w.Settings {
		// A mistyped key would otherwise leave the setting at its default, silently.
		if w.Declared != nil && !slices.ContainsFunc(w.Declared, func(s bus.Setting) bool { return s.Key == key }) {
			t.Fatalf("moatest.Service: setting %q is not among the service's declared settings", key)
		}
	}
	log := w.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := w.NATS
	if n == nil {
		n = NATS(t)
	}
	settings := maps.Clone(w.Settings)
	k := &Kit[C]{t: t, start: start, NATS: n}
	k.Runtime = runtime(t, n, log)
	k.Client = client.New(k.Runtime.Client())
	k.Env = bus.Env{Runtime: k.Runtime, Logger: log, Declared: w.Declared,
		Setting: func(key string) string { return settings[key] }}
	if w.Postgres {
		k.Env.PostgresURL = Postgres(t)
		pool, err := pgxpool.New(context.Background(), k.Env.PostgresURL)
		if err != nil {
			t.Fatalf("moatest.Service: %v", err)
		}
		t.Cleanup(pool.Close)
		k.Postgres = pool
	}
	if w.Mongo || w.MongoURL != "" {
		k.Env.MongoURL = w.MongoURL
		if k.Env.MongoURL == "" {
			k.Env.MongoURL = Mongo(t)
		}
		k.Env.MongoDatabase = uniqueName(t, "svc_", 63)
		k.Mongo = mongoDatabase(t, k.Env.MongoURL, k.Env.MongoDatabase, w.MongoURL == "")
	}
	if !w.NoIssuer {
		k.Issuer = authntest.NewIssuer(t, k.Runtime)
	}
	t.Cleanup(k.stopAtEnd)
	k.Start(t)
	return k
}

// As returns ctx carrying an access token of p (authntest.Seller(), Consumer(), Operator()
// or any principal), signed by the test issuer.
func (k *Kit[C]) As(ctx context.Context, p contracts.Principal) context.Context {
	if k.Issuer == nil {
		k.t.Helper()
		k.t.Fatal("moatest.Kit.As: no test issuer (With.NoIssuer)")
	}
	return k.Issuer.Context(ctx, p)
}

// Start starts the service again after Stop, with the same Env.
func (k *Kit[C]) Start(t testing.TB) {
	t.Helper()
	if k.running {
		t.Fatal("moatest.Kit.Start: the service is running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	comp, err := k.start(ctx, k.Env)
	if err != nil {
		t.Fatalf("moatest: start service: %v", err)
	}
	k.Component, k.running = comp, true
}

// Stop stops the service (its endpoints stop answering, its consumers and jobs stop); the
// runtime, databases and streams stay. A Stop error fails the test.
func (k *Kit[C]) Stop(t testing.TB) {
	t.Helper()
	if err := k.stop(); err != nil {
		t.Fatalf("moatest: stop service: %v", err)
	}
}

// Restart stops the service and starts it again with the same Env, as a redeploy does.
func (k *Kit[C]) Restart(t testing.TB) {
	t.Helper()
	k.Stop(t)
	k.Start(t)
}

// Replica starts one more instance of the service on its own NATS connection and runtime,
// with the same databases, settings and issuer; it is stopped when the test ends.
func (k *Kit[C]) Replica(t testing.TB) *Kit[C] {
	t.Helper()
	r := &Kit[C]{t: t, start: k.start, Env: k.Env, NATS: k.NATS, Issuer: k.Issuer, Postgres: k.Postgres, Mongo: k.Mongo}
	r.Runtime = runtime(t, k.NATS, k.Env.Logger)
	r.Client = client.New(r.Runtime.Client())
	r.Env.Runtime = r.Runtime
	t.Cleanup(r.stopAtEnd)
	r.Start(t)
	return r
}

func (k *Kit[C]) stop() error {
	if !k.running {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err := k.Component.Stop(ctx)
	var zero C
	k.Component, k.running = zero, false
	return err
}

func (k *Kit[C]) stopAtEnd() {
	if err := k.stop(); err != nil {
		k.t.Errorf("moatest: stop service: %v", err)
	}
}

// Runtime connects one more runtime to n, closed when the test ends, with its logs
// discarded: for a test that starts a service by hand (to see it fail) or plays another
// service on its own connection.
func Runtime(t testing.TB, n *NATSServer) *bus.Runtime {
	t.Helper()
	return runtime(t, n, slog.New(slog.DiscardHandler))
}

// runtime connects a runtime to n, closed when the test ends.
func runtime(t testing.TB, n *NATSServer, log *slog.Logger) *bus.Runtime {
	t.Helper()
	rt, err := bus.New(n.Conn(t), bus.WithLogger(log))
	if err != nil {
		t.Fatalf("moatest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	})
	return rt
}

// mongoDatabase connects to uri and returns database name, dropped when the test ends if drop
// is set. A server the test owns may be down by then, and a drop would wait out the timeout.
func mongoDatabase(t testing.TB, uri, name string, drop bool) *mongo.Database {
	t.Helper()
	mc, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("moatest: connect to %s: %v", uri, err)
	}
	db := mc.Database(name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), mongoTimeout)
		defer cancel()
		if drop {
			_ = db.Drop(ctx) // best effort: an embedded store goes with the test anyway
		}
		_ = mc.Disconnect(ctx)
	})
	return db
}
