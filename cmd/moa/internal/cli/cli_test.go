package cli

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/system"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFlagWinsOverVariableWinsOverDefault(t *testing.T) {
	getenv := env(map[string]string{
		"MOA_NATS_ADDR":     "127.0.0.1:5000",
		"MOA_HTTP_ADDR":     "127.0.0.1:9000",
		"MOA_DRAIN_TIMEOUT": "3s",
		"MOA_LOG_LEVEL":     "debug",
	})
	o, _, err := parse(cmdDev, []string{"--http-addr", "127.0.0.1:9999", "--log-level=warn"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	c := o.System
	if c.HTTPAddr != "127.0.0.1:9999" {
		t.Errorf("http addr = %q: the flag must win over MOA_HTTP_ADDR", c.HTTPAddr)
	}
	if o.LogLevel != slog.LevelWarn {
		t.Errorf("log level = %v: the flag must win over MOA_LOG_LEVEL", o.LogLevel)
	}
	if c.DurabilityWatch != 30*time.Second {
		t.Errorf("durability watch = %v, want the 30s default", c.DurabilityWatch)
	}
	if c.NATS.Addr != "127.0.0.1:5000" || c.DrainTimeout != 3*time.Second {
		t.Errorf("nats addr %q, drain %v: the variables must win over the defaults", c.NATS.Addr, c.DrainTimeout)
	}
	if c.DataDir != "./.moa" || c.DatabasePrefix != "moa_" || o.LogFormat != "text" || c.NATS.URL != "" {
		t.Errorf("defaults: data dir %q, prefix %q, log format %q, nats url %q", c.DataDir, c.DatabasePrefix, o.LogFormat, c.NATS.URL)
	}
}

// A flag given explicitly wins even when it sets the zero value the variable overrode.
func TestExplicitFalseFlagBeatsTrueVariable(t *testing.T) {
	o, _, err := parse(cmdDev, []string{"--nats-sync-always=false"}, env(map[string]string{"MOA_NATS_SYNC_ALWAYS": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if o.System.NATS.SyncAlways {
		t.Error("--nats-sync-always=false lost to MOA_NATS_SYNC_ALWAYS=true")
	}
	o, _, _ = parse(cmdDev, nil, env(map[string]string{"MOA_NATS_SYNC_ALWAYS": "true"}))
	if !o.System.NATS.SyncAlways {
		t.Error("MOA_NATS_SYNC_ALWAYS=true ignored")
	}
}

// moa dev fsyncs every JetStream write unless told not to: the README's figure shows the cost
// is far above what a development workload publishes.
func TestDevSyncsAlwaysByDefault(t *testing.T) {
	o, _, err := parse(cmdDev, nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !o.System.NATS.SyncAlways {
		t.Error("moa dev does not fsync by default")
	}
	o, _, _ = parse(cmdDev, []string{"--nats-sync-always=false"}, env(nil))
	if o.System.NATS.SyncAlways {
		t.Error("--nats-sync-always=false ignored")
	}
}

// The README's configuration table gives each setting the default `moa help` prints.
func TestREADMEStatesEveryDefault(t *testing.T) {
	b, err := os.ReadFile("../../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "| `--"); ok {
			flag, _, _ := strings.Cut(rest, "`")
			flag, _, _ = strings.Cut(flag, " ")
			rows[flag] = line
		}
	}
	for _, s := range settings {
		row, ok := rows[s.Flag]
		if !ok {
			t.Errorf("README's table has no row for --%s", s.Flag)
			continue
		}
		if s.Default != "" && !strings.Contains(row, "`"+s.Default+"`") {
			t.Errorf("README's row for --%s does not give its default `%s`: %s", s.Flag, s.Default, row)
		}
	}
}

func TestFlagsMayFollowArguments(t *testing.T) {
	o, args, err := parse(cmdServe, []string{"auth", "--http-addr", ":9000", "search", "--", "--literal"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(args, " ") != "auth search --literal" || o.System.HTTPAddr != ":9000" {
		t.Errorf("args %q, http addr %q", args, o.System.HTTPAddr)
	}
}

func TestBadValuesNameTheirSource(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, map[string]string{"MOA_DRAIN_TIMEOUT": "soon"}, "MOA_DRAIN_TIMEOUT"},
		{[]string{"--drain-timeout", "-1s"}, nil, "--drain-timeout"},
		{nil, map[string]string{"MOA_DURABILITY_WATCH": "often"}, "MOA_DURABILITY_WATCH"},
		{[]string{"--durability-watch", "0s"}, nil, "--durability-watch"},
		{nil, map[string]string{"MOA_LOG_LEVEL": "loud"}, "MOA_LOG_LEVEL"},
		{[]string{"--log-format", "xml"}, nil, "--log-format"},
		{nil, map[string]string{"MOA_POSTGRES_PORT": "99999"}, "MOA_POSTGRES_PORT"},
		{nil, map[string]string{"MOA_NATS_SYNC_ALWAYS": "sometimes"}, "MOA_NATS_SYNC_ALWAYS"},
		{[]string{"--no-such-flag"}, nil, "no-such-flag"},
	}
	for _, c := range cases {
		_, _, err := parse(cmdDev, c.args, env(c.env))
		var ue usageError
		if err == nil || !strings.Contains(err.Error(), c.want) || !asUsage(err, &ue) {
			t.Errorf("parse(%v, %v) = %v, want a usage error naming %s", c.args, c.env, err, c.want)
		}
	}
}

func asUsage(err error, ue *usageError) bool {
	u, ok := err.(usageError)
	*ue = u
	return ok
}

// Settings only apply where they mean something: serve starts nothing locally, so it has no
// --data-dir, and dlq hosts no services.
func TestSettingsBelongToTheirCommands(t *testing.T) {
	if _, _, err := parse(cmdServe, []string{"--data-dir", "x"}, env(nil)); err == nil {
		t.Error("moa serve accepted --data-dir")
	}
	if _, _, err := parse(cmdDLQ, []string{"--http-addr", "x"}, env(nil)); err == nil {
		t.Error("moa dlq accepted --http-addr")
	}
	// A variable that does not apply is ignored rather than an error: one environment file
	// serves every command.
	if _, _, err := parse(cmdServe, nil, env(map[string]string{"MOA_DATA_DIR": "x"})); err != nil {
		t.Errorf("MOA_DATA_DIR broke moa serve: %v", err)
	}
}

// The inbox prefix is left to the system's default (per service for a one-service serve)
// unless set; set, it reaches the system and the operator tools.
func TestInboxPrefixSetting(t *testing.T) {
	o, _, err := parse(cmdServe, nil, env(nil))
	if err != nil || o.System.NATS.InboxPrefix != "" {
		t.Fatalf("unset: prefix %q (%v), want it left to the system", o.System.NATS.InboxPrefix, err)
	}
	for _, cmd := range []string{cmdServe, cmdDev, cmdDLQ, cmdSagas, cmdProjections} {
		o, _, err = parse(cmd, nil, env(map[string]string{"MOA_NATS_INBOX_PREFIX": "_INBOX_ops"}))
		if err != nil || o.System.NATS.InboxPrefix != "_INBOX_ops" {
			t.Errorf("%s: prefix %q (%v), want MOA_NATS_INBOX_PREFIX's _INBOX_ops", cmd, o.System.NATS.InboxPrefix, err)
		}
	}
}

func TestPerServiceVariables(t *testing.T) {
	names := system.Services()
	if len(names) == 0 {
		t.Skip("no services registered")
	}
	svc := names[0]
	o, _, err := parse(cmdServe, nil, env(map[string]string{
		system.SettingEnv(svc, "postgres_url"): "postgres://a@b/c",
		system.SettingEnv(svc, "mongo_url"):    "mongodb://d",
		system.SettingEnv(svc, "some_key"):     "v",
	}))
	if err != nil {
		t.Fatal(err)
	}
	c := o.System
	if c.ServicePostgresURL[svc] != "postgres://a@b/c" || c.ServiceMongoURL[svc] != "mongodb://d" || c.Setting(svc, "some_key") != "v" {
		t.Errorf("%s: postgres %q, mongo %q, setting %q", svc, c.ServicePostgresURL[svc], c.ServiceMongoURL[svc], c.Setting(svc, "some_key"))
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	var out bytes.Buffer
	if code := Main(context.Background(), []string{"help"}, &out, &out, env(nil)); code != 0 {
		t.Fatalf("moa help exited %d", code)
	}
	help := out.String()
	for _, s := range settings {
		if !strings.Contains(help, "--"+s.Flag) || !strings.Contains(help, s.Env) {
			t.Errorf("moa help lacks --%s / %s", s.Flag, s.Env)
		}
	}
	for _, v := range perService {
		if !strings.Contains(help, v.Env) {
			t.Errorf("moa help lacks %s", v.Env)
		}
	}
	for _, name := range system.Services() {
		reg, _ := system.Lookup(name)
		if !strings.Contains(help, name) {
			t.Errorf("moa help does not list service %s", name)
		}
		for _, d := range reg.Settings {
			if !strings.Contains(help, system.SettingEnv(name, d.Key)) {
				t.Errorf("moa help lacks %s", system.SettingEnv(name, d.Key))
			}
		}
	}
}

var update = flag.Bool("update", false, "rewrite the README's table of service settings from their declarations")

const (
	readmePath        = "../../../../README.md"
	settingsTableHead = "<!-- service settings: generated, do not edit -->\n"
	settingsTableEnd  = "<!-- end of service settings -->\n"
)

// The README's configuration section must stay true to `moa help`: every flag and variable
// is documented there, the table of service settings is the one their declarations make
// (every default, bound and former name), and it documents no MOA_ variable that does not
// exist.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, settingsTableHead), strings.Index(readme, settingsTableEnd)
	if i < 0 || j < i {
		t.Fatalf("README lacks the markers %q and %q around the service settings", settingsTableHead, settingsTableEnd)
	}
	want := "| Variable | Meaning |\n|---|---|\n" + settingsTable()
	if got := readme[i+len(settingsTableHead) : j]; got != want {
		if *update {
			readme = readme[:i+len(settingsTableHead)] + want + readme[j:]
			if err := os.WriteFile(readmePath, []byte(readme), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Errorf("README's service settings are stale; run go test ./cmd/moa/internal/cli -run TestREADME -update\n got:\n%s\nwant:\n%s", got, want)
		}
	}
	known := map[string]bool{}
	for _, s := range settings {
		known[s.Env] = true
		if !strings.Contains(readme, "--"+s.Flag) || !strings.Contains(readme, s.Env) {
			t.Errorf("README lacks --%s / %s", s.Flag, s.Env)
		}
	}
	for _, v := range perService {
		known[v.Env] = true
		if !strings.Contains(readme, v.Env) {
			t.Errorf("README lacks %s", v.Env)
		}
	}
	for _, name := range system.Services() {
		reg, _ := system.Lookup(name)
		for _, d := range reg.Settings {
			for _, key := range append([]string{d.Key}, d.Aliases...) {
				known[system.SettingEnv(name, key)] = true
			}
			if d.Default != "" && d.Kind != bus.KindSecret && !strings.Contains(readme, "| `"+system.SettingEnv(name, d.Key)+"` |") {
				t.Errorf("README lacks %s", system.SettingEnv(name, d.Key))
			}
		}
	}
	// Also documented, but not moa settings: the test harness's variables, the per-service
	// URL variables spelled out, and the deployment's passwords (from docker-compose.yml).
	known["MOA_TEST_POSTGRES_URL"], known["MOA_TEST_MONGO_URL"] = true, true
	for _, name := range system.Services() {
		known[system.SettingEnv(name, "postgres_url")] = true
		known[system.SettingEnv(name, "mongo_url")] = true
	}
	compose, err := os.ReadFile("../../../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, word := range envWords(string(compose)) {
		known[word] = true
	}
	for _, word := range envWords(readme) {
		if !known[word] {
			t.Errorf("README documents %s, which moa does not read", word)
		}
	}
}

// Every service's declarations are well formed: upper-case unique keys, defaults inside
// their bounds, documentation.
func TestServiceSettingsAreWellDeclared(t *testing.T) {
	for _, name := range system.Services() {
		reg, _ := system.Lookup(name)
		if err := bus.Check(reg.Settings); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDLQKeepsItsOwnFlags(t *testing.T) {
	ours, theirs := splitSettingFlags(cmdDLQ, []string{"ls", "--nats-url", "nats://x:1", "--stream", "CATALOG", "--log-level=debug", "--json", "--", "--nats-user"})
	if strings.Join(ours, " ") != "--nats-url nats://x:1 --log-level=debug" {
		t.Errorf("settings flags = %q", ours)
	}
	if strings.Join(theirs, " ") != "ls --stream CATALOG --json -- --nats-user" {
		t.Errorf("dlq arguments = %q", theirs)
	}
}

// envWords returns the MOA_* words of text (with <PLACEHOLDER> parts kept).
func envWords(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(text, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '<' || r == '>')
	}) {
		if strings.HasPrefix(w, "MOA_") && w != "MOA_" { // "MOA_*" names the family
			out = append(out, w)
		}
	}
	return out
}

// A bad OTEL_* variable stops moa dev before it starts anything, naming the variable.
func TestBadTracingEnvironmentStopsTheStart(t *testing.T) {
	var out, errs bytes.Buffer
	code := Main(context.Background(), []string{"dev", "--data-dir", t.TempDir()}, &out, &errs, env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER": "sometimes",
	}))
	if code != 1 || !strings.Contains(errs.String(), "OTEL_TRACES_SAMPLER") {
		t.Errorf("exit %d, stderr %q: want 1 and an error naming OTEL_TRACES_SAMPLER", code, errs.String())
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q: nothing should have started", out.String())
	}
}

// The process's logger gives a line logged inside a recording span its trace and span ids.
func TestLoggerCarriesTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, &Options{LogLevel: slog.LevelInfo, LogFormat: "json"})
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	ctx, span := tp.Tracer("t").Start(context.Background(), "x")
	log.InfoContext(ctx, "inside")
	span.End()
	sc := span.SpanContext()
	if !strings.Contains(buf.String(), `"trace_id":"`+sc.TraceID().String()+`"`) || !strings.Contains(buf.String(), `"span_id":"`+sc.SpanID().String()+`"`) {
		t.Errorf("log line %s lacks the span's ids", buf.String())
	}
}
