// Package systemtest boots the whole Moa system inside a test with one call:
//
//	func TestSubscribe(t *testing.T) {
//		sys := systemtest.Boot(t)                     // every registered service
//		c := client.New(sys.Client())
//		...
//	}
//
// NATS is the system's own embedded server as `moa dev` runs it (random port, store in
// t.TempDir()): each service connects as its own user with its production permissions
// (system.NATSUsers), and a permissions violation the server logs during the test fails it.
// A service of the test's own (not registered) has no user: with one, the server admits
// anyone. The databases come from moatest: a fresh PostgreSQL database per service on the
// test binary's throwaway server (or MOA_TEST_POSTGRES_URL), and an embedded FerretDB (or
// MOA_TEST_MONGO_URL). Everything
// stops in t.Cleanup: the system first, then the servers. A package using it should declare
//
//	func TestMain(m *testing.M) { moatest.Main(m) }
//
// Services read their settings from the options (Setting), never from the process
// environment, so a developer's MOA_* variables cannot change a test.
package systemtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	mongoopts "go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
)

const (
	startTimeout = 2 * time.Minute // a loaded CI machine initialising PostgreSQL is slow
	stopTimeout  = time.Minute
)

// Option adjusts what Boot starts.
type Option func(*options)

type options struct {
	services  []string
	settings  map[string]string
	configure []func(*system.Config)
	logLevel  slog.Level
}

// Services boots only these services (default: every registered one).
func Services(names ...string) Option {
	return func(o *options) { o.services = append(o.services, names...) }
}

// Setting gives a service a setting, as MOA_<SERVICE>_<KEY> would in production.
func Setting(service, key, value string) Option {
	return func(o *options) { o.settings[system.SettingEnv(service, key)] = value }
}

// Configure edits the system config after Boot filled it in (e.g. Registry, to host a
// service under test that is not registered yet).
func Configure(fn func(*system.Config)) Option {
	return func(o *options) { o.configure = append(o.configure, fn) }
}

// LogLevel sets the level of the system's log, which goes to the test log (default info).
func LogLevel(l slog.Level) Option { return func(o *options) { o.logLevel = l } }

// Boot starts the system for t and stops it when the test ends. It fails the test if the
// system does not start.
func Boot(t testing.TB, opts ...Option) *system.System {
	t.Helper()
	o := &options{settings: map[string]string{}}
	for _, fn := range opts {
		fn(o)
	}
	logw := &testWriter{t: t}
	cfg := system.Config{
		DataDir: t.TempDir(),
		// The embedded server of `moa dev`: each service connects as its own NATS user with
		// the permissions production gives it (system.NATSUsers), so a permission a service
		// lacks fails here rather than only under moa dev or in production.
		NATS:     system.NATSConfig{Addr: "127.0.0.1:0", Authorize: true},
		HTTPAddr: "127.0.0.1:0",
		Services: o.services,
		// A prefix of its own keeps two tests from sharing a MongoDB database when
		// MOA_TEST_MONGO_URL points them at one server.
		DatabasePrefix:     "t" + randomHex(4) + "_",
		ServicePostgresURL: map[string]string{},
		ServiceMongoURL:    map[string]string{},
		Logger:             slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: o.logLevel})),
		Setting:            func(service, key string) string { return o.settings[system.SettingEnv(service, key)] },
	}
	for _, fn := range o.configure {
		fn(&cfg)
	}
	reg := cfg.Registry
	if reg == nil {
		reg = map[string]system.Registration{}
		for _, n := range system.Services() {
			reg[n], _ = system.Lookup(n)
		}
	}
	selected := cfg.Services
	if len(selected) == 0 {
		for n := range reg {
			selected = append(selected, n)
		}
	}
	var violations *violationLog
	if cfg.NATS.URL == "" {
		for _, n := range selected {
			if _, ok := system.Lookup(n); !ok && cfg.NATS.Authorize {
				// A service of the test's own has no production user to connect as: the
				// server stays open, as it would have to in production too.
				t.Logf("systemtest: %q has no NATS user (system.NATSUsers): the embedded NATS admits anyone", n)
				cfg.NATS.Authorize = false
			}
		}
		violations = &violationLog{}
		cfg.NATS.ServerLog = violations
	}
	mongoURL := ""
	for _, n := range selected {
		r, ok := reg[n]
		if !ok {
			continue // system.Start reports unknown services
		}
		if r.Postgres && cfg.ServicePostgresURL[n] == "" {
			cfg.ServicePostgresURL[n] = moatest.Postgres(t)
		}
		if r.Mongo && cfg.ServiceMongoURL[n] == "" && cfg.MongoURL == "" {
			if mongoURL == "" {
				mongoURL = moatest.Mongo(t)
				dropMongoDatabases(t, mongoURL, cfg.DatabasePrefix)
			}
			cfg.MongoURL = mongoURL
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	sys, err := system.Start(ctx, cfg)
	if err != nil {
		logw.close()
		t.Fatalf("systemtest.Boot: %v", err)
	}
	t.Cleanup(func() {
		defer logw.close()
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := sys.Stop(ctx); err != nil {
			t.Errorf("systemtest: stop: %v", err)
		}
		if v := violations.lines(); len(v) > 0 {
			t.Errorf("systemtest: the NATS server refused a client (a permission missing from system.NATSUsers?):\n%s",
				strings.Join(v, "\n"))
		}
	})
	return sys
}

// violationLog is the embedded server's log, keeping the permissions violations: a request
// a service's user may not make is only a timeout to the service (nats.go reports the
// violation asynchronously), so without this a missing permission passes every test.
type violationLog struct {
	mu  sync.Mutex
	got []string
}

var _ server.Logger = (*violationLog)(nil)

func (l *violationLog) lines() []string {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

func (l *violationLog) Errorf(format string, v ...any) {
	// nats-server logs "Publish Violation - ..." and "Subscription Violation - ...".
	if line := fmt.Sprintf(format, v...); strings.Contains(line, "Publish Violation") || strings.Contains(line, "Subscription Violation") {
		l.mu.Lock()
		l.got = append(l.got, line)
		l.mu.Unlock()
	}
}

func (l *violationLog) Noticef(string, ...any) {}
func (l *violationLog) Warnf(string, ...any)   {}
func (l *violationLog) Fatalf(string, ...any)  {}
func (l *violationLog) Debugf(string, ...any)  {}
func (l *violationLog) Tracef(string, ...any)  {}

// dropMongoDatabases removes the test's MongoDB databases when the test ends; on a shared
// server (MOA_TEST_MONGO_URL) they would otherwise pile up. It is registered before the
// system's own cleanup, so it runs after the services stopped.
func dropMongoDatabases(t testing.TB, uri, prefix string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		client, err := mongo.Connect(mongoopts.Client().ApplyURI(uri))
		if err != nil {
			t.Errorf("systemtest: mongo cleanup: %v", err)
			return
		}
		defer client.Disconnect(ctx)
		names, err := client.ListDatabaseNames(ctx, bson.M{})
		if err != nil {
			t.Errorf("systemtest: mongo cleanup: %v", err)
			return
		}
		for _, n := range names {
			if len(n) > len(prefix) && n[:len(prefix)] == prefix {
				if err := client.Database(n).Drop(ctx); err != nil {
					t.Errorf("systemtest: drop %s: %v", n, err)
				}
			}
		}
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testWriter sends log lines to the test log until the test's cleanup is over; a goroutine
// that logs later would otherwise make the testing package panic.
type testWriter struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

var _ io.Writer = (*testWriter)(nil)

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Helper()
		w.t.Log(string(trimNewline(p)))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

func trimNewline(p []byte) []byte {
	if n := len(p); n > 0 && p[n-1] == '\n' {
		return p[:n-1]
	}
	return p
}
