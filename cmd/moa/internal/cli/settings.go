// Package cli is the `moa` command: its subcommands, and the one table of settings that
// both the flag parser and `moa help` read, so the help cannot drift from what is parsed.
package cli

import (
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/cmd/moa/internal/load"
	"github.com/moa-run/moa/system"
)

// Options is everything a command line and the environment can set.
type Options struct {
	System    system.Config
	LogLevel  slog.Level
	LogFormat string // text or json
	// OperatorSecret is exchanged with the auth service for the operator token the tools'
	// calls carry.
	OperatorSecret string
	// Load is what `moa load` drives and how.
	Load load.Config
}

// setting is one configuration knob: a flag and the MOA_* variable behind it. A flag given on
// the command line wins over the variable, which wins over the default.
type setting struct {
	Flag     string
	Env      string
	Arg      string // placeholder in help, "" for booleans
	Default  string
	Usage    string
	Commands []string // where it applies
	apply    func(o *Options, v string) error
}

const (
	cmdDev   = "dev"
	cmdServe = "serve"
	cmdDLQ   = "dlq"
	// Operator tools of the subscription service.
	cmdSagas       = "sagas"
	cmdProjections = "projections"
	cmdLoad        = "load"
)

var (
	all    = []string{cmdDev, cmdServe, cmdDLQ, cmdSagas, cmdProjections}
	hosted = []string{cmdDev, cmdServe}
	// operatorTools call operator endpoints, with an operator token.
	operatorTools = []string{cmdSagas, cmdProjections}
)

// settings is the table. Order is the order of `moa help`.
var settings = []setting{
	{Flag: "data-dir", Env: "MOA_DATA_DIR", Arg: "DIR", Default: "./" + system.DefaultDataDir, Commands: []string{cmdDev},
		Usage: "where embedded NATS (nats/), PostgreSQL (pg/) and, with --mongo-backend=sqlite, FerretDB (mongo/) keep their data",
		apply: func(o *Options, v string) error { o.System.DataDir = v; return nil }},
	{Flag: "nats-addr", Env: "MOA_NATS_ADDR", Arg: "HOST:PORT", Default: system.DefaultNATSAddr, Commands: []string{cmdDev},
		Usage: "listen address of the embedded NATS server (port 0 picks a free port); 4223 so as not to collide with a nats-server on 4222",
		apply: func(o *Options, v string) error { o.System.NATS.Addr = v; return nil }},
	{Flag: "nats-sync-always", Env: "MOA_NATS_SYNC_ALWAYS", Default: "true", Commands: []string{cmdDev},
		Usage: "fsync every JetStream write before acking it (embedded NATS); =false acks from the page cache, several times faster, but an acked event then survives a crash of moa, not a power loss",
		apply: func(o *Options, v string) (err error) { o.System.NATS.SyncAlways, err = parseBool(v); return }},
	{Flag: "nats-url", Env: "MOA_NATS_URL", Arg: "URLS", Commands: all,
		Usage: "external NATS servers, comma-separated (required by serve; dev starts its own when unset; dlq, sagas and projections default to nats://" + system.DefaultNATSAddr + " as the operator of the moa dev under ./" + system.DefaultDataDir + ")",
		apply: func(o *Options, v string) error { o.System.NATS.URL = v; return nil }},
	{Flag: "nats-creds", Env: "MOA_NATS_CREDS", Arg: "FILE", Commands: all,
		Usage: "NATS credentials file (user JWT and nkey seed)",
		apply: func(o *Options, v string) error { o.System.NATS.Creds = v; return nil }},
	{Flag: "nats-nkey", Env: "MOA_NATS_NKEY", Arg: "FILE", Commands: all,
		Usage: "NATS nkey seed file",
		apply: func(o *Options, v string) error { o.System.NATS.NKey = v; return nil }},
	{Flag: "nats-user", Env: "MOA_NATS_USER", Arg: "NAME", Commands: all,
		Usage: "NATS user name (with MOA_NATS_PASSWORD)",
		apply: func(o *Options, v string) error { o.System.NATS.User = v; return nil }},
	{Flag: "nats-password", Env: "MOA_NATS_PASSWORD", Arg: "SECRET", Commands: all,
		Usage: "NATS password (prefer the variable: flags show in ps)",
		apply: func(o *Options, v string) error { o.System.NATS.Password = v; return nil }},
	{Flag: "nats-token", Env: "MOA_NATS_TOKEN", Arg: "SECRET", Commands: all,
		Usage: "NATS authentication token (prefer the variable)",
		apply: func(o *Options, v string) error { o.System.NATS.Token = v; return nil }},
	{Flag: "nats-tls-cert", Env: "MOA_NATS_TLS_CERT", Arg: "FILE", Commands: all,
		Usage: "client certificate for mutual TLS with NATS (with MOA_NATS_TLS_KEY)",
		apply: func(o *Options, v string) error { o.System.NATS.TLSCert = v; return nil }},
	{Flag: "nats-tls-key", Env: "MOA_NATS_TLS_KEY", Arg: "FILE", Commands: all,
		Usage: "client key for mutual TLS with NATS",
		apply: func(o *Options, v string) error { o.System.NATS.TLSKey = v; return nil }},
	{Flag: "nats-tls-ca", Env: "MOA_NATS_TLS_CA", Arg: "FILE", Commands: all,
		Usage: "CA certificate that verifies the NATS servers (turns TLS on)",
		apply: func(o *Options, v string) error { o.System.NATS.TLSCA = v; return nil }},
	{Flag: "nats-inbox-prefix", Env: "MOA_NATS_INBOX_PREFIX", Arg: "PREFIX", Commands: all,
		Usage: "prefix of this process's reply subjects instead of _INBOX; serve running one service defaults to _INBOX_<service>, the only inbox space its NATS user may subscribe to in deploy/nats/nats.conf",
		apply: func(o *Options, v string) error { o.System.NATS.InboxPrefix = v; return nil }},
	{Flag: "operator-secret", Env: "MOA_OPERATOR_SECRET", Arg: "SECRET", Default: system.DevOperatorSecret, Commands: operatorTools,
		Usage: "the auth service's MOA_AUTH_OPERATOR_SECRET, exchanged for the operator token the sagas and projections endpoints require (the default is moa dev's; prefer the variable)",
		apply: func(o *Options, v string) error { o.OperatorSecret = v; return nil }},
	{Flag: "postgres-url", Env: "MOA_POSTGRES_URL", Arg: "URL", Commands: hosted,
		Usage: "existing PostgreSQL server, postgres://user:pass@host:port/postgres; each service uses its own database <db-prefix><service> on it, created if missing (dev starts a local server when unset)",
		apply: func(o *Options, v string) error { o.System.PostgresURL = v; return nil }},
	{Flag: "postgres-port", Env: "MOA_POSTGRES_PORT", Arg: "PORT", Default: "0", Commands: []string{cmdDev},
		Usage: "port of the local PostgreSQL server on 127.0.0.1 (0 picks a free port)",
		apply: func(o *Options, v string) (err error) { o.System.PostgresPort, err = parsePort(v); return }},
	{Flag: "mongo-url", Env: "MOA_MONGO_URL", Arg: "URL", Commands: hosted,
		Usage: "existing MongoDB, mongodb://...; each service uses its own database <db-prefix><service> (dev embeds FerretDB when unset)",
		apply: func(o *Options, v string) error { o.System.MongoURL = v; return nil }},
	{Flag: "mongo-backend", Env: "MOA_MONGO_BACKEND", Arg: "NAME", Default: system.DefaultMongoBackend, Commands: []string{cmdDev},
		Usage: "where the embedded FerretDB stores documents: postgresql (the database <db-prefix>docs on the PostgreSQL dev uses) or sqlite (files under <data-dir>/mongo); ignored with MOA_MONGO_URL",
		apply: func(o *Options, v string) error {
			if v != system.MongoBackendSQLite && v != system.MongoBackendPostgreSQL {
				return fmt.Errorf("want %s or %s, got %q", system.MongoBackendSQLite, system.MongoBackendPostgreSQL, v)
			}
			o.System.MongoBackend = v
			return nil
		}},
	{Flag: "db-prefix", Env: "MOA_DB_PREFIX", Arg: "PREFIX", Default: system.DefaultDatabasePrefix, Commands: hosted,
		Usage: "prefix of the per-service database names (lower-case letters, digits, _)",
		apply: func(o *Options, v string) error { o.System.DatabasePrefix = v; return nil }},
	{Flag: "http-addr", Env: "MOA_HTTP_ADDR", Arg: "HOST:PORT", Default: system.DefaultHTTPAddr, Commands: hosted,
		Usage: "listen address of /healthz, /readyz, /metrics, the status page (/status, also / without the edge) and, where the edge runs, the web app at / and its WebSocket /ws (port 0 picks a free port)",
		apply: func(o *Options, v string) error { o.System.HTTPAddr = v; return nil }},
	{Flag: "services", Env: "MOA_SERVICES", Arg: "LIST", Default: "all", Commands: []string{cmdDev},
		Usage: "comma-separated services for dev to run",
		apply: func(o *Options, v string) error {
			o.System.Services = nil
			if v == "all" || v == "" {
				return nil
			}
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					o.System.Services = append(o.System.Services, s)
				}
			}
			return nil
		}},
	{Flag: "drain-timeout", Env: "MOA_DRAIN_TIMEOUT", Arg: "DURATION", Default: system.DefaultDrainTimeout.String(), Commands: hosted,
		Usage: "on SIGTERM, how long in-flight requests and events may take to finish",
		apply: positiveDuration("10s", func(o *Options, d time.Duration) { o.System.DrainTimeout = d })},
	{Flag: "durability-watch", Env: "MOA_DURABILITY_WATCH", Arg: "DURATION", Default: system.DefaultDurabilityWatch.String(), Commands: hosted,
		Usage: "how often the durability guard re-checks the streams' replicas (edited down, offline, not current); /readyz, /status and a metric report what it finds",
		apply: positiveDuration("30s", func(o *Options, d time.Duration) { o.System.DurabilityWatch = d })},
	{Flag: "startup-patience", Env: "MOA_STARTUP_PATIENCE", Arg: "DURATION", Default: bus.FormatDuration(bus.DefaultStartupPatience), Commands: hosted,
		Usage: "how long each start-up step (a stream, consumer or bucket, a schema migration) retries a NATS JetStream (or database) that is busy or not ready, as a cluster starting with its services is, before the start fails",
		apply: positiveDuration("1m", func(o *Options, d time.Duration) { o.System.StartupPatience = d })},
	{Flag: "url", Env: "MOA_LOAD_URL", Arg: "URL", Default: "http://" + system.DefaultHTTPAddr, Commands: []string{cmdLoad},
		Usage: "the edge that load drives: its base URL, as printed by moa dev (web:); the WebSocket is <url>/ws",
		apply: func(o *Options, v string) error { o.Load.URL = v; return nil }},
	{Flag: "mix", Env: "MOA_LOAD_MIX", Arg: "OP=WEIGHT,...", Default: load.DefaultMix, Commands: []string{cmdLoad},
		Usage: "relative weights of the operations: " + strings.Join(load.Mixable, ", ") + "; subscribe also measures notify (the activated notification's arrival) and chat chat.receive (the seller's push)",
		apply: func(o *Options, v string) (err error) { o.Load.Mix, err = load.ParseMix(v); return }},
	{Flag: "rate", Env: "MOA_LOAD_RATE", Arg: "OPS/S", Default: "20", Commands: []string{cmdLoad},
		Usage: "operations per second of the first stage",
		apply: func(o *Options, v string) (err error) { o.Load.Rate, err = parsePositive(v); return }},
	{Flag: "max-rate", Env: "MOA_LOAD_MAX_RATE", Arg: "OPS/S", Default: "5000", Commands: []string{cmdLoad},
		Usage: "the ramp grows no further than this (set it to --rate for a fixed rate)",
		apply: func(o *Options, v string) (err error) { o.Load.MaxRate, err = parsePositive(v); return }},
	{Flag: "step", Env: "MOA_LOAD_STEP", Arg: "FACTOR", Default: "1.5", Commands: []string{cmdLoad},
		Usage: "each stage runs at the previous stage's rate times this (≥ 1); the ramp stops after two stages in a row that do not hold",
		apply: func(o *Options, v string) (err error) {
			if o.Load.Step, err = parsePositive(v); err == nil && o.Load.Step < 1 {
				err = fmt.Errorf("want a factor ≥ 1, got %q", v)
			}
			return
		}},
	{Flag: "stage", Env: "MOA_LOAD_STAGE", Arg: "DURATION", Default: "10s", Commands: []string{cmdLoad},
		Usage: "how long each stage of the ramp runs",
		apply: positiveDuration("10s", func(o *Options, d time.Duration) { o.Load.Stage = d })},
	{Flag: "duration", Env: "MOA_LOAD_DURATION", Arg: "DURATION", Default: "60s", Commands: []string{cmdLoad},
		Usage: "the whole run, after set-up (signing up the users and putting up the products)",
		apply: positiveDuration("60s", func(o *Options, d time.Duration) { o.Load.Duration = d })},
	{Flag: "users", Env: "MOA_LOAD_USERS", Arg: "N", Default: "100", Commands: []string{cmdLoad},
		Usage: "signed-in consumers, each on a WebSocket of its own; the edge admits 20 frames/s per connection, so keep the rate under 10 × users",
		apply: func(o *Options, v string) (err error) { o.Load.Users, err = parseCount(v); return }},
	{Flag: "products", Env: "MOA_LOAD_PRODUCTS", Arg: "N", Default: "64", Commands: []string{cmdLoad},
		Usage: "products four sellers put up before the run; a consumer subscribes to each at most once (all_products_taken counts the rest)",
		apply: func(o *Options, v string) (err error) { o.Load.Products, err = parseCount(v); return }},
	{Flag: "p99", Env: "MOA_LOAD_P99", Arg: "DURATION", Default: "100ms", Commands: []string{cmdLoad},
		Usage: "the p99 every operation must hold for a stage to count",
		apply: positiveDuration("100ms", func(o *Options, d time.Duration) { o.Load.P99 = d })},
	{Flag: "log-level", Env: "MOA_LOG_LEVEL", Arg: "LEVEL", Default: "info", Commands: all,
		Usage: "debug, info, warn or error",
		apply: func(o *Options, v string) error {
			if err := o.LogLevel.UnmarshalText([]byte(v)); err != nil {
				return fmt.Errorf("want debug, info, warn or error, got %q", v)
			}
			return nil
		}},
	{Flag: "log-format", Env: "MOA_LOG_FORMAT", Arg: "FORMAT", Default: "text", Commands: all,
		Usage: "text or json; logs go to stderr",
		apply: func(o *Options, v string) error {
			if v != "text" && v != "json" {
				return fmt.Errorf("want text or json, got %q", v)
			}
			o.LogFormat = v
			return nil
		}},
}

// perService documents the variables read for each service. They have no flags: one flag per
// service and key would make the flag set depend on the registry.
var perService = []struct{ Env, Usage string }{
	{"MOA_<SERVICE>_POSTGRES_URL", "the service's own database URL, used as is (instead of its database on MOA_POSTGRES_URL)"},
	{"MOA_<SERVICE>_MONGO_URL", "the service's MongoDB URL (instead of MOA_MONGO_URL)"},
	{"MOA_<SERVICE>_<KEY>", "a service's own settings, listed below per service"},
}

func (s setting) appliesTo(cmd string) bool {
	for _, c := range s.Commands {
		if c == cmd {
			return true
		}
	}
	return false
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("want true or false, got %q", v)
	}
	return b, nil
}

func parsePort(v string) (int, error) {
	p, err := strconv.Atoi(v)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("want a port number, got %q", v)
	}
	return p, nil
}

// positiveDuration is the apply of a duration setting: a positive Go duration (the example
// names a sensible value in the error), handed to set.
func positiveDuration(example string, set func(*Options, time.Duration)) func(*Options, string) error {
	return func(o *Options, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration like %s, got %q", example, v)
		}
		set(o, d)
		return nil
	}
}

func parsePositive(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want a positive number, got %q", v)
	}
	return f, nil
}

func parseCount(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("want a whole number ≥ 1, got %q", v)
	}
	return n, nil
}
