package systemtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
)

// instancesPerService is how many `moa serve` processes of each service start together.
const instancesPerService = 2

// An orchestrator starts every replica of every service at once, against a NATS cluster of
// three nodes and one database server: two instances of each service here, as sixteen `moa
// serve` processes would (the External shape, one service each), all released at the same
// instant. They race to create the same databases, run the same migrations, create the same R3
// streams, consumers and buckets; every one of them must start and answer /readyz with 200.
//
// Before the start-up steps retried a busy JetStream API (bus.Runtime.Setup), instances died
// on "create stream DLQ: context deadline exceeded" and "cache generation bucket: context
// deadline exceeded" (issue 14). The cluster is JetStream-ready before the release (meta leader
// elected, an R3 stream placeable: moatest.NATSCluster waits for both), as an operator's
// cluster is when its services roll out.
func TestEveryServiceStartsTwiceAtOnceOnACluster(t *testing.T) {
	cluster := moatest.NATSCluster(t, 3)
	admin := moatest.Postgres(t) // a database on the test server, whose owner may create others
	mongoURL := moatest.Mongo(t)
	prefix := "t" + randomHex(4) + "_"
	dropMongoDatabases(t, mongoURL, prefix)
	services := system.Services()
	// Registered before the systems' own cleanups, so it runs after they stopped.
	t.Cleanup(func() { dropPostgresDatabases(t, admin, prefix, services) })

	type instance struct {
		name string
		sys  *system.System
		err  error
		took time.Duration
		logw *testWriter
	}
	var instances []*instance
	for _, name := range services {
		for i := range instancesPerService {
			instances = append(instances, &instance{name: fmt.Sprintf("%s#%d", name, i+1)})
		}
	}
	release := make(chan struct{})
	var wg sync.WaitGroup
	for _, in := range instances {
		service := strings.Split(in.name, "#")[0]
		in.logw = &testWriter{t: t}
		cfg := system.Config{
			DataDir:  t.TempDir(),
			External: true,
			Services: []string{service},
			NATS:     system.NATSConfig{URL: cluster.URLs()},
			HTTPAddr: "127.0.0.1:0",
			// One server URL and one prefix for all: both instances of a service find (or
			// create) the same databases, as replicas do.
			PostgresURL:    admin,
			MongoURL:       mongoURL,
			DatabasePrefix: prefix,
			Logger: slog.New(slog.NewTextHandler(in.logw, &slog.HandlerOptions{Level: slog.LevelWarn})).
				With("instance", in.name),
			Setting: func(string, string) string { return "" },
		}
		wg.Go(func() {
			<-release
			ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
			defer cancel()
			start := time.Now()
			in.sys, in.err = system.Start(ctx, cfg)
			in.took = time.Since(start)
		})
	}
	// Each stops when the test ends; LIFO order puts these before the clusters' shutdown.
	t.Cleanup(func() {
		var stops sync.WaitGroup
		for _, in := range instances {
			if in.sys == nil {
				continue
			}
			stops.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
				defer cancel()
				if err := in.sys.Stop(ctx); err != nil {
					t.Errorf("stop %s: %v", in.name, err)
				}
			})
		}
		stops.Wait()
		for _, in := range instances {
			in.logw.close()
		}
	})
	begin := time.Now()
	close(release)
	wg.Wait()
	t.Logf("%d instances (%d services x %d) started together in %v", len(instances), len(services), instancesPerService, time.Since(begin).Round(time.Millisecond))

	var failed []string
	var slowest time.Duration
	for _, in := range instances {
		slowest = max(slowest, in.took)
		if in.err != nil {
			failed = append(failed, fmt.Sprintf("%s after %v: %v", in.name, in.took.Round(time.Millisecond), in.err))
			continue
		}
		if code, body := getReadyz(t, in.sys.HTTPURL()); code != http.StatusOK {
			failed = append(failed, fmt.Sprintf("%s: /readyz %d: %s", in.name, code, body))
		}
	}
	sort.Strings(failed)
	t.Logf("slowest start %v; %d of %d instances not ready", slowest.Round(time.Millisecond), len(failed), len(instances))
	if len(failed) > 0 {
		t.Errorf("instances that did not start or are not ready:\n%s", strings.Join(failed, "\n"))
	}
}

// getReadyz asks an instance's /readyz as its orchestrator's probe would.
func getReadyz(t *testing.T, base string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(body)
}

// dropPostgresDatabases removes the services' databases the instances created on the shared
// test server.
func dropPostgresDatabases(t *testing.T, admin, prefix string, services []string) {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Errorf("postgres cleanup: %v", err)
		return
	}
	defer conn.Close(ctx)
	for _, s := range services {
		db := pgx.Identifier{system.DatabaseName(prefix, s)}.Sanitize()
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
			t.Errorf("postgres cleanup: drop %s: %v", db, err)
		}
	}
}
