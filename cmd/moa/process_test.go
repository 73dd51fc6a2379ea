package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
)

func TestDevRunsTheWholeSystemAndStopsCleanlyOnSIGTERM(t *testing.T) {
	dataDir := t.TempDir()
	p := start(t, map[string]string{"MOA_DATA_DIR": dataDir},
		"dev", "--nats-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	natsURL, webURL := p.readReady(t)
	u, err := url.Parse(natsURL)
	if err != nil || u.Scheme != "nats" || u.Hostname() != "127.0.0.1" || u.User.Username() != system.OperatorNATSUser ||
		!strings.HasPrefix(webURL, "http://127.0.0.1:") || !strings.HasSuffix(webURL, "/") {
		t.Fatalf("addresses: nats %q, web %q: want the operator's credentials on a loopback NATS", natsURL, webURL)
	}
	devBusIsClosed(t, u)

	// The operator's URL, as printed, is what the tools and the NATS CLI connect with.
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	discover(t, nc, endpointServices())
	// One real call, so the process has handled something its metrics must show.
	keys, err := bus.Call(ctxTimeout(t, 30*time.Second), busClient(t, nc), contracts.AuthKeys, contracts.Empty{})
	if err != nil || len(keys.Keys) == 0 {
		t.Errorf("auth.v1.keys = %+v, %v; want the signing keys", keys, err)
	}
	// A signup's event goes out through auth's outbox relay under auth's own NATS user: the
	// relay's reads of the stream list must be allowed (they were not, and each batch waited
	// out a refused request inside its transaction).
	if _, err := bus.Call(ctxTimeout(t, 30*time.Second), busClient(t, nc), contracts.AuthSignup,
		contracts.SignupRequest{Email: "relay@example.com", Password: "correct horse battery", Role: contracts.RoleConsumer, DisplayName: "Relay"}); err != nil {
		t.Errorf("auth.v1.signup: %v", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 30*time.Second, func() bool {
		st, err := js.Stream(ctxTimeout(t, 5*time.Second), contracts.StreamAuth.Name)
		if err != nil {
			return false
		}
		info, err := st.Info(ctxTimeout(t, 5*time.Second))
		return err == nil && info.State.Msgs > 0
	}, "the signup's event in the AUTH stream")
	if strings.Contains(p.stderr.String(), "Permissions Violation") {
		t.Errorf("moa dev logged a permissions violation:\n%s", p.stderr.String())
	}
	checkHTTP(t, webURL)
	// One server: the critical streams run at R1, which the start log and /status say as a
	// warning; the embedded server fsyncs by default, so no warning about that.
	if _, body := get(t, webURL+"status"); !strings.Contains(body, "WARNING: critical stream capped") || strings.Contains(body, "does not fsync") {
		t.Errorf("/status durability: want the R1 warning and no fsync warning:\n%s", body)
	}
	if !strings.Contains(p.stderr.String(), "WARNING: critical stream capped") {
		t.Errorf("the start log does not warn that critical streams are capped to R1")
	}
	// The dead-letter tool finds the dev server's DLQ stream (created at start) by URL.
	dl := start(t, map[string]string{"MOA_NATS_URL": natsURL}, "dlq", "ls", "--limit", "5")
	if code := dl.wait(t); code != 0 || !strings.Contains(strings.Join(dl.stdout.lines(), "\n"), "no dead letters") {
		t.Errorf("moa dlq ls: exit %d, stdout %q", code, dl.stdout.lines())
	}
	// The saga tools reach the subscription service of the dev process.
	sg := start(t, map[string]string{"MOA_NATS_URL": natsURL}, "sagas", "stuck")
	if code := sg.wait(t); code != 0 || !strings.Contains(strings.Join(sg.stdout.lines(), "\n"), "0 stuck saga(s)") {
		t.Errorf("moa sagas stuck: exit %d, stdout %q", code, sg.stdout.lines())
	}
	pr := start(t, map[string]string{"MOA_NATS_URL": natsURL}, "projections", "rebuild")
	if code := pr.wait(t); code != 0 || !strings.Contains(strings.Join(pr.stdout.lines(), "\n"), "dashboard rebuilt: 0 events replayed") {
		t.Errorf("moa projections rebuild: exit %d, stdout %q", code, pr.stdout.lines())
	}
	pg := postgresUnder(dataDir)
	if len(pg) == 0 {
		t.Errorf("no postgres process runs on a data directory under %s", dataDir)
	}

	if code := p.terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	if out := p.stdout.lines(); len(out) != 2 {
		t.Errorf("stdout = %q, want exactly the nats: and web: lines", out)
	}
	if left := stillPostgres(pg); len(left) > 0 {
		t.Errorf("postgres processes %v outlived moa", left)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "pg", "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("postmaster.pid left behind (%v): PostgreSQL was not shut down cleanly", err)
	}
	for _, log := range []string{"signal received, draining", "stopped"} {
		if !strings.Contains(p.stderr.String(), log) {
			t.Errorf("stderr lacks %q", log)
		}
	}
}

// devBusIsClosed checks that the dev server admits no client without credentials, and that a
// service's user, guessed or not, cannot be logged in as without its password: nobody but the
// process reads the dev mailbox's subject or pushes to users.
func devBusIsClosed(t *testing.T, operator *url.URL) {
	t.Helper()
	anon := *operator
	anon.User = nil
	if nc, err := nats.Connect(anon.String()); err == nil {
		defer nc.Close()
		t.Errorf("an anonymous client connects to moa dev's NATS")
		if sub, err := nc.SubscribeSync(contracts.NotifyDevMailbox.Subject()); err == nil {
			_ = sub.Unsubscribe()
			t.Errorf("an anonymous client may subscribe to %s", contracts.NotifyDevMailbox.Subject())
		}
	}
	guessed := anon
	guessed.User = url.UserPassword("notify", "notify-nats-dev")
	if nc, err := nats.Connect(guessed.String()); err == nil {
		nc.Close()
		t.Errorf("a client logs in as notify with the compose default password")
	}
}

// `moa serve` is the production shape: it starts nothing itself. Here it runs two services
// against test infrastructure, one database URL given per service (auth) and one shared
// server URL (search's MongoDB).
func TestServeRunsChosenServicesAgainstExternalInfrastructure(t *testing.T) {
	ns := moatest.NATS(t)
	p := start(t, map[string]string{
		"MOA_NATS_URL":          ns.URL(),
		"MOA_AUTH_POSTGRES_URL": moatest.Postgres(t),
		"MOA_MONGO_URL":         moatest.Mongo(t),
		"MOA_HTTP_ADDR":         "127.0.0.1:0",
		"MOA_LOG_FORMAT":        "json",
	}, "serve", "auth", "search")
	natsURL, webURL := p.readReady(t)
	if natsURL != ns.URL() {
		t.Errorf("nats line %q, want the external server %q", natsURL, ns.URL())
	}
	code, body := get(t, webURL+"readyz")
	if code != http.StatusOK || !strings.Contains(body, `"durability":"ok"`) {
		t.Errorf("/readyz = %d %s, want 200 with the durability guard's check", code, body)
	}
	discover(t, ns.Conn(t), []string{"auth", "search"})
	if code := p.terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	first, _, _ := strings.Cut(p.stderr.String(), "\n")
	if !json.Valid([]byte(first)) {
		t.Errorf("MOA_LOG_FORMAT=json, but the first log line is %q", first)
	}
}

func TestCommandLineMistakes(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"no command", nil, nil, 2, "Usage:"},
		{"unknown command", nil, []string{"deploy"}, 2, `unknown command "deploy"`},
		{"serve without services", nil, []string{"serve"}, 2, "at least one service"},
		{"serve unknown service", nil, []string{"serve", "payroll"}, 2, `unknown service "payroll"`},
		{"serve without NATS", nil, []string{"serve", "search"}, 1, "MOA_NATS_URL"},
		{"bad variable", map[string]string{"MOA_DRAIN_TIMEOUT": "soon"}, []string{"dev"}, 2, "MOA_DRAIN_TIMEOUT"},
		{"bad flag", nil, []string{"dev", "--nats-adr", "x"}, 2, "nats-adr"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := start(t, c.env, c.args...)
			if code := p.wait(t); code != c.code {
				t.Errorf("exit code %d, want %d", code, c.code)
			}
			if !strings.Contains(p.stderr.String(), c.want) {
				t.Errorf("stderr %q lacks %q", p.stderr.String(), c.want)
			}
		})
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	p := start(t, nil, "help")
	if code := p.wait(t); code != 0 {
		t.Fatalf("moa help exited %d", code)
	}
	out := strings.Join(p.stdout.lines(), "\n")
	for _, want := range []string{"moa dev", "moa serve", "MOA_DATA_DIR", "--nats-addr", "MOA_NATS_URL", "MOA_POSTGRES_URL",
		"MOA_MONGO_URL", "MOA_<SERVICE>_POSTGRES_URL", "--http-addr", "MOA_LOG_LEVEL", "MOA_LOG_FORMAT"} {
		if !strings.Contains(out, want) {
			t.Errorf("moa help lacks %q", want)
		}
	}
}

func checkHTTP(t *testing.T, webURL string) {
	t.Helper()
	if code, body := get(t, webURL+"healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %s", code, body)
	}
	code, body := get(t, webURL+"readyz")
	var r system.Readiness
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != http.StatusOK || !r.Ready {
		t.Errorf("/readyz = %d %s", code, body)
	}
	code, body = get(t, webURL+"metrics")
	for _, want := range []string{`moa_handled_total{kind="request",name="keys",outcome="ok",service="auth"} 1`, "go_goroutines"} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %q", code, want)
		}
	}
	code, body = get(t, webURL+"status")
	for _, name := range system.Services() {
		if code != http.StatusOK || !strings.Contains(body, name) {
			t.Errorf("status page (%d) does not list %s", code, name)
		}
	}
	// The edge serves the web app at the root, with the dev mailbox on (moa dev's default).
	if code, body := get(t, webURL); code != http.StatusOK || !strings.Contains(body, "subscription marketplace demo") {
		t.Errorf("/ = %d, want the edge's demo page: %.200s", code, body)
	}
	if code, body := get(t, webURL+"config.json"); code != http.StatusOK || !strings.Contains(body, `"dev_mailbox":true`) {
		t.Errorf("/config.json = %d %s, want the dev mailbox on", code, body)
	}
	if code, _ := get(t, webURL+"sdk/moa.js"); code != http.StatusOK {
		t.Errorf("/sdk/moa.js = %d", code)
	}
}

// endpointServices are the registered services that answer endpoints: all but the fronts
// (the edge), which serve HTTP.
func endpointServices() []string {
	var out []string
	for _, n := range system.Services() {
		if r, _ := system.Lookup(n); r.Mount == "" {
			out = append(out, n)
		}
	}
	return out
}

// discover finds the services through $SRV.PING, as `nats micro ls` does, and checks with
// $SRV.INFO that each serves exactly the endpoints contracts declares for it, in a queue
// group.
func discover(t *testing.T, nc *nats.Conn, want []string) {
	t.Helper()
	var found []string
	moatest.WaitFor(t, 30*time.Second, func() error {
		found = ping(t, nc)
		if !equal(found, want) {
			return fmt.Errorf("$SRV.PING answered by %v, want %v", found, want)
		}
		return nil
	})
	declared := map[string][]string{}
	for _, ep := range contracts.Endpoints() {
		info := ep.Info()
		declared[info.Service.Name] = append(declared[info.Service.Name], info.Subject)
	}
	for _, name := range want {
		msg, err := nc.Request("$SRV.INFO."+name, nil, 10*time.Second)
		if err != nil {
			t.Errorf("$SRV.INFO.%s: %v", name, err)
			continue
		}
		var info micro.Info
		if err := json.Unmarshal(msg.Data, &info); err != nil {
			t.Errorf("$SRV.INFO.%s: %v", name, err)
			continue
		}
		var subjects []string
		for _, ep := range info.Endpoints {
			subjects = append(subjects, ep.Subject)
			if ep.QueueGroup == "" {
				t.Errorf("%s: endpoint %s is not in a queue group", name, ep.Subject)
			}
		}
		if len(declared[name]) == 0 || !equal(subjects, declared[name]) {
			t.Errorf("$SRV.INFO.%s endpoints = %v, contracts declare %v", name, subjects, declared[name])
		}
	}
}

// ping collects the $SRV.PING answers that arrive within a second.
func ping(t *testing.T, nc *nats.Conn) []string {
	t.Helper()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest("$SRV.PING", inbox, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for {
		msg, err := sub.NextMsg(time.Second)
		if err != nil {
			break
		}
		var p micro.Ping
		if json.Unmarshal(msg.Data, &p) == nil {
			seen[p.Name] = true
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	return names
}
