package system_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
)

// The `moa dev` shape: nothing given but a data dir, so NATS, PostgreSQL and FerretDB all
// run locally under it. A second start on the same dir finds the data of the first.
func TestDevShapeRunsEverythingUnderTheDataDir(t *testing.T) {
	dir := t.TempDir()
	probe := &echoProbe{}
	cfg := system.Config{
		DataDir:  dir,
		NATS:     system.NATSConfig{Addr: "127.0.0.1:0"},
		HTTPAddr: "127.0.0.1:0",
		Logger:   quietLogger(),
		Registry: map[string]system.Registration{"echo": {Start: echoStart(probe), Postgres: true, Mongo: true}},
		Setting: func(service, key string) string {
			if service == "echo" && key == "greeting" {
				return "kia ora"
			}
			return ""
		},
	}
	sys, err := system.Start(ctxFor(t, 2*time.Minute), cfg)
	must(t, err, "start")

	r := say(t, sys, "hello")
	if r.Database != "moa_echo" || r.Rows != 1 || r.Docs != 1 || r.Setting != "kia ora" {
		t.Errorf("first call = %+v, want database moa_echo, 1 row, 1 doc, setting kia ora", r)
	}
	// Documents are in PostgreSQL (the default backend), so no mongo/.
	for _, p := range []string{"nats/jetstream", "pg/PG_VERSION"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("data dir: %v", err)
		}
	}
	if !strings.HasPrefix(sys.NATSURL(), "nats://127.0.0.1:") || strings.HasSuffix(sys.NATSURL(), ":4222") {
		t.Errorf("NATS URL %q: want a free loopback port", sys.NATSURL())
	}
	for _, st := range contracts.Streams() {
		if _, err := sys.Runtime().JetStream().Stream(ctxFor(t, 10*time.Second), st.Name); err != nil {
			t.Errorf("stream %s: %v", st.Name, err)
		}
	}
	if got := sys.Services(); len(got) != 1 || got[0] != "echo" {
		t.Errorf("Services() = %v", got)
	}
	env, ok := sys.Env("echo")
	if !ok || !strings.Contains(env.PostgresURL, "/moa_echo") || env.MongoDatabase != "moa_echo" {
		t.Errorf("Env(echo) = %+v, %v", env, ok)
	}

	must(t, sys.Stop(ctxFor(t, time.Minute)), "stop")
	if n := probe.stops.Load(); n != 1 {
		t.Errorf("echo stopped %d times, want 1", n)
	}
	if sys.State() != system.StateStopped {
		t.Errorf("state after Stop = %s", sys.State())
	}
	if _, err := os.Stat(filepath.Join(dir, "pg", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PostgreSQL still running after Stop (postmaster.pid: %v)", err)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(sys.NATSURL(), "nats://"), time.Second); err == nil {
		t.Error("embedded NATS still accepts connections after Stop")
	}
	if err := sys.Stop(ctxFor(t, time.Minute)); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	sys2 := startSystem(t, cfg)
	if r := say(t, sys2, "again"); r.Rows != 2 || r.Docs != 2 {
		t.Errorf("after restart on the same data dir: %+v, want 2 rows and 2 docs", r)
	}
}

func TestHTTPEndpoints(t *testing.T) {
	sys := startSystem(t, system.Config{
		DataDir:            t.TempDir(),
		NATS:               system.NATSConfig{URL: moatest.NATS(t).URL()},
		HTTPAddr:           "127.0.0.1:0",
		Logger:             quietLogger(),
		Registry:           map[string]system.Registration{"echo": {Start: echoStart(&echoProbe{}), Postgres: true, Mongo: true}},
		ServicePostgresURL: map[string]string{"echo": moatest.Postgres(t)},
		MongoURL:           moatest.Mongo(t),
	})
	base := strings.TrimSuffix(sys.HTTPURL(), "/")
	say(t, sys, "count me")

	if code, body := httpGet(t, base+"/healthz"); code != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz = %d %s", code, body)
	}
	code, body := httpGet(t, base+"/readyz")
	var ready system.Readiness
	if err := json.Unmarshal([]byte(body), &ready); err != nil || code != http.StatusOK || !ready.Ready {
		t.Errorf("/readyz = %d %s (%v)", code, body, err)
	}
	for _, check := range []string{"nats", "jetstream", "services"} {
		if ready.Checks[check] != "ok" {
			t.Errorf("/readyz check %s = %q", check, ready.Checks[check])
		}
	}
	code, body = httpGet(t, base+"/metrics")
	for _, want := range []string{`moa_handled_total{kind="request",name="say",outcome="ok",service="echo"} 1`, "go_goroutines", "process_"} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %q", code, want)
		}
	}
	code, body = httpGet(t, base+"/")
	for _, want := range []string{"echo", sys.NATSURL(), "/readyz", "serves no web app"} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("status page (%d) lacks %q", code, want)
		}
	}
	if code, _ := httpGet(t, base+"/no-such-page"); code != http.StatusNotFound {
		t.Errorf("/no-such-page = %d, want 404", code)
	}

	must(t, sys.Mount("/edge/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("edge here")) })), "mount")
	if code, body := httpGet(t, base+"/edge/x"); code != http.StatusOK || body != "edge here" {
		t.Errorf("mounted handler: %d %q", code, body)
	}
	if err := sys.Mount("GET /healthz", http.NotFoundHandler()); err == nil {
		t.Error("mounting over /healthz succeeded; want a conflict error")
	}
	if err := sys.Mount("/", http.NotFoundHandler()); err != nil {
		t.Errorf("the edge must be mountable on /: %v", err)
	}
	if code, body := httpGet(t, base+"/"); code != http.StatusOK || !strings.Contains(body, "echo") {
		t.Errorf("after mounting /, the root still shows the status page: %d", code)
	}
}

// /readyz follows the NATS connection: a lost server makes the process unready (so a load
// balancer stops sending it work) without making it unhealthy.
func TestReadinessFollowsNATS(t *testing.T) {
	ns := moatest.NATS(t)
	sys := startSystem(t, system.Config{
		DataDir: t.TempDir(), NATS: system.NATSConfig{URL: ns.URL()}, HTTPAddr: "127.0.0.1:0",
		Logger: quietLogger(), Registry: map[string]system.Registration{},
	})
	readyz := strings.TrimSuffix(sys.HTTPURL(), "/") + "/readyz"
	if code, body := httpGet(t, readyz); code != http.StatusOK {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	ns.Shutdown()
	moatest.Eventually(t, 30*time.Second, func() bool {
		code, _ := httpGet(t, readyz)
		return code == http.StatusServiceUnavailable
	}, "/readyz turns 503 when NATS is gone")
	if code, _ := httpGet(t, strings.TrimSuffix(sys.HTTPURL(), "/")+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d while NATS is down, want 200", code)
	}
	ns.Restart(t)
	moatest.Eventually(t, 30*time.Second, func() bool {
		code, _ := httpGet(t, readyz)
		return code == http.StatusOK
	}, "/readyz back to 200 after NATS returns")
}

// A service that fails to start stops the whole start: the services already started are
// stopped again and the ports are released, so a retry can bind them.
func TestFailedStartRollsBack(t *testing.T) {
	probe := &echoProbe{}
	httpAddr := freeAddr(t)
	cfg := system.Config{
		DataDir: t.TempDir(), NATS: system.NATSConfig{URL: moatest.NATS(t).URL()}, HTTPAddr: httpAddr,
		Logger: quietLogger(),
		Registry: map[string]system.Registration{
			"echo":  {Start: echoStart(probe), Postgres: true, Mongo: true},
			"later": {Start: failing}, // sorts after echo, so echo is already up
		},
		ServicePostgresURL: map[string]string{"echo": moatest.Postgres(t)},
		MongoURL:           moatest.Mongo(t),
	}
	_, err := system.Start(ctxFor(t, 2*time.Minute), cfg)
	if err == nil || !strings.Contains(err.Error(), "start later: refusing to start") {
		t.Fatalf("Start = %v, want the failing service's error", err)
	}
	if n := probe.stops.Load(); n != 1 {
		t.Errorf("echo stopped %d times after the failed start, want 1", n)
	}
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		t.Fatalf("HTTP port not released: %v", err)
	}
	ln.Close()
}

func TestConfigErrorsBeforeStartingAnything(t *testing.T) {
	reg := map[string]system.Registration{"echo": {Start: echoStart(&echoProbe{}), Postgres: true}}
	cases := []struct {
		name string
		cfg  system.Config
		want string
	}{
		{"unknown service", system.Config{Services: []string{"nope"}}, `unknown service "nope" (known: echo)`},
		{"serve without NATS", system.Config{External: true}, "MOA_NATS_URL"},
		{"bad nats addr", system.Config{NATS: system.NATSConfig{Addr: "localhost"}}, "nats addr"},
		{"bad http addr", system.Config{HTTPAddr: "8080"}, "http addr"},
		{"bad prefix", system.Config{DatabasePrefix: "Moa-"}, "database prefix"},
		{"bad inbox prefix", system.Config{NATS: system.NATSConfig{InboxPrefix: "_INBOX.*"}}, "nats inbox prefix"},
		{"bad mongo backend", system.Config{MongoBackend: "mysql"}, `mongo backend "mysql": want sqlite or postgresql`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.cfg.DataDir, c.cfg.Registry, c.cfg.Logger = dir, reg, quietLogger()
			_, err := system.Start(ctxFor(t, 10*time.Second), c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Start = %v, want an error containing %q", err, c.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a config error still created %d entries in the data dir", len(entries))
			}
		})
	}
}

// The `moa serve` shape starts nothing locally: a service that needs a database nobody named
// is refused with the variables to set, and the process lets go of NATS again.
func TestServeShapeNamesTheMissingURL(t *testing.T) {
	ns := moatest.NATS(t)
	_, err := system.Start(ctxFor(t, time.Minute), system.Config{
		DataDir: t.TempDir(), External: true, NATS: system.NATSConfig{URL: ns.URL()}, HTTPAddr: "127.0.0.1:0",
		Logger:   quietLogger(),
		Registry: map[string]system.Registration{"echo": {Start: echoStart(&echoProbe{}), Postgres: true, Mongo: true}},
	})
	if err == nil || !strings.Contains(err.Error(), "echo needs PostgreSQL: set MOA_POSTGRES_URL or MOA_ECHO_POSTGRES_URL") {
		t.Fatalf("Start = %v", err)
	}
	moatest.Eventually(t, 10*time.Second, func() bool { return ns.Server().NumClients() == 0 }, "the failed start closes its NATS connection")
}

// With only a server URL (MOA_POSTGRES_URL), each service gets a database of its own,
// created on first start and reused after.
func TestPostgresURLGivesEachServiceItsOwnDatabase(t *testing.T) {
	admin := moatest.Postgres(t) // a fresh database whose owner may create others
	prefix := randomPrefix()
	cfg := system.Config{
		DataDir: t.TempDir(), External: true, NATS: system.NATSConfig{URL: moatest.NATS(t).URL()}, HTTPAddr: "127.0.0.1:0",
		Logger: quietLogger(), PostgresURL: admin, MongoURL: moatest.Mongo(t), DatabasePrefix: prefix,
		Registry: map[string]system.Registration{"echo": {Start: echoStart(&echoProbe{}), Postgres: true, Mongo: true}},
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctxFor(t, 30*time.Second), admin)
		if err == nil {
			conn.Exec(ctxFor(t, 30*time.Second), "DROP DATABASE IF EXISTS "+prefix+"echo WITH (FORCE)")
			conn.Close(ctxFor(t, 30*time.Second))
		}
	})
	sys, err := system.Start(ctxFor(t, time.Minute), cfg)
	must(t, err, "start")
	if r := say(t, sys, "one"); r.Database != prefix+"echo" || r.Rows != 1 {
		t.Errorf("first start: %+v, want database %secho with 1 row", r, prefix)
	}
	must(t, sys.Stop(ctxFor(t, time.Minute)), "stop")
	sys = startSystem(t, cfg)
	if r := say(t, sys, "two"); r.Database != prefix+"echo" || r.Rows != 2 {
		t.Errorf("second start: %+v, want the same database with 2 rows", r)
	}
}

// The embedded FerretDB on its PostgreSQL backend keeps documents in a database of its own,
// <prefix>docs, on the PostgreSQL the process uses (here a configured one, so the test does
// not initdb), one schema per service database, and nothing under the data dir's mongo/.
func TestMongoBackendPostgreSQLUsesItsOwnDatabase(t *testing.T) {
	admin := moatest.Postgres(t)
	prefix := randomPrefix()
	dir := t.TempDir()
	cfg := system.Config{
		DataDir: dir, NATS: system.NATSConfig{Addr: "127.0.0.1:0"}, HTTPAddr: "127.0.0.1:0",
		Logger: quietLogger(), PostgresURL: admin, DatabasePrefix: prefix, MongoBackend: system.MongoBackendPostgreSQL,
		Registry: map[string]system.Registration{"echo": {Start: echoStart(&echoProbe{}), Postgres: true, Mongo: true}},
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctxFor(t, 30*time.Second), admin)
		if err == nil {
			for _, db := range []string{prefix + "echo", prefix + "docs"} {
				conn.Exec(ctxFor(t, 30*time.Second), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
			}
			conn.Close(ctxFor(t, 30*time.Second))
		}
	})
	sys, err := system.Start(ctxFor(t, time.Minute), cfg)
	must(t, err, "start")
	if r := say(t, sys, "one"); r.Docs != 1 {
		t.Errorf("first start: %+v, want 1 doc", r)
	}
	must(t, sys.Stop(ctxFor(t, time.Minute)), "stop")
	sys = startSystem(t, cfg)
	if r := say(t, sys, "two"); r.Docs != 2 {
		t.Errorf("second start: %+v, want 2 docs", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "mongo")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir has mongo/ (%v) although documents live in PostgreSQL", err)
	}
	docsURL := strings.Replace(admin, "/"+lastPathElem(admin), "/"+prefix+"docs", 1)
	conn, err := pgx.Connect(ctxFor(t, 30*time.Second), docsURL)
	must(t, err, "connect to the documents database")
	defer conn.Close(ctxFor(t, 30*time.Second))
	var n int
	must(t, conn.QueryRow(ctxFor(t, 30*time.Second),
		`SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1`, prefix+"echo").Scan(&n), "schemata")
	if n != 1 {
		t.Errorf("schema %secho in %sdocs: %d, want 1", prefix, prefix, n)
	}
}

func lastPathElem(u string) string {
	u, _, _ = strings.Cut(u, "?")
	return u[strings.LastIndex(u, "/")+1:]
}

// A `moa serve` process running one service takes its replies in that service's own inbox
// space, which is all its NATS user may read in production; otherwise the shared one, unless
// configured.
func TestServeShapeOfOneServiceUsesItsOwnInbox(t *testing.T) {
	url := moatest.NATS(t).URL()
	noop := system.Registration{Start: func(context.Context, bus.Env) (bus.Component, error) { return nil, nil }}
	reg := map[string]system.Registration{"one": noop, "two": noop}
	cases := []struct {
		services []string
		external bool
		prefix   string
		want     string
	}{
		{[]string{"one"}, true, "", "_INBOX_one."},
		{[]string{"one", "two"}, true, "", "_INBOX."},
		{[]string{"one"}, false, "", "_INBOX."},
		{[]string{"one"}, true, "_INBOX_custom", "_INBOX_custom."},
	}
	for _, c := range cases {
		sys := startSystem(t, system.Config{
			DataDir: t.TempDir(), External: c.external, Services: c.services, HTTPAddr: "127.0.0.1:0",
			NATS: system.NATSConfig{URL: url, InboxPrefix: c.prefix}, Logger: quietLogger(), Registry: reg,
		})
		if inbox := sys.Conn().NewInbox(); !strings.HasPrefix(inbox, c.want) {
			t.Errorf("services %v, external %v, prefix %q: inbox %s, want %s...", c.services, c.external, c.prefix, inbox, c.want)
		}
		must(t, sys.Stop(ctxFor(t, time.Minute)), "stop")
	}
}

func TestStopDrainsTheConnection(t *testing.T) {
	ns := moatest.NATS(t)
	sys := startSystem(t, system.Config{
		DataDir: t.TempDir(), NATS: system.NATSConfig{URL: ns.URL()}, HTTPAddr: "127.0.0.1:0",
		Logger: quietLogger(), Registry: map[string]system.Registration{},
	})
	nc := sys.Conn()
	must(t, sys.Stop(ctxFor(t, time.Minute)), "stop")
	if nc.Status() != nats.CLOSED {
		t.Errorf("connection status after Stop = %v, want CLOSED", nc.Status())
	}
	if _, err := http.Get(sys.HTTPURL() + "healthz"); err == nil {
		t.Error("HTTP server still answers after Stop")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(moatest.FreePort(t))
}

func randomPrefix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return "t" + hex.EncodeToString(b) + "_"
}
