package system

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.opentelemetry.io/otel/trace"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/internal/docstore"
)

// Defaults. The embedded NATS port is 4223, not 4222, so that `moa dev` runs beside a
// nats-server already listening on the standard port.
const (
	DefaultDataDir        = ".moa"
	DefaultNATSAddr       = "127.0.0.1:4223"
	DefaultHTTPAddr       = "127.0.0.1:8080"
	DefaultDatabasePrefix = "moa_"
	DefaultDrainTimeout   = 10 * time.Second
	// DefaultDurabilityWatch is how often the durability guard re-checks the streams.
	DefaultDurabilityWatch = bus.DurabilityWatchInterval

	// MongoBackendSQLite and MongoBackendPostgreSQL are the embedded FerretDB's backends
	// (Config.MongoBackend). PostgreSQL is the default, from the chat row of `edgeload bench`
	// (100 pairs, the real chat service, store on a PostgreSQL that fsyncs as moa dev's does,
	// 2 shared cores): at 300 msg/s 2,672–3,001 of 3,001 received on PostgreSQL against
	// 1,205–1,267 on SQLite; at 1,000 msg/s 4,250–6,447 against 1,348 of 10,000. Both
	// isolate updates of one document alike (docstore's isolator). SQLite stays selectable
	// (no server needed); moatest uses it.
	MongoBackendSQLite     = docstore.BackendSQLite
	MongoBackendPostgreSQL = docstore.BackendPostgreSQL
	DefaultMongoBackend    = MongoBackendPostgreSQL
)

// Config describes one Moa process. The zero value plus a DataDir is a working `moa dev`.
type Config struct {
	// DataDir holds what the embedded infrastructure writes: nats/ (JetStream store), pg/
	// (the local PostgreSQL cluster) and, with MongoBackendSQLite, mongo/ (FerretDB's SQLite
	// files). Default ./.moa.
	DataDir string

	NATS NATSConfig

	// PostgresURL points at an existing PostgreSQL server (its database is only used to
	// create the services' databases). Empty: a local server is started under DataDir/pg.
	PostgresURL string
	// PostgresPort is the local server's port; 0 picks a free one.
	PostgresPort int
	// MongoURL points at an existing MongoDB. Empty: an embedded FerretDB under DataDir/mongo.
	MongoURL string
	// MongoBackend is where the embedded FerretDB stores documents: MongoBackendPostgreSQL
	// (the database <DatabasePrefix>docs on the local or configured PostgreSQL; the default
	// when empty) or MongoBackendSQLite (files under DataDir/mongo). Ignored with MongoURL.
	MongoBackend string

	// DatabasePrefix names each service's own databases: PostgreSQL database and MongoDB
	// database <prefix><service> (default "moa_", e.g. moa_catalog).
	DatabasePrefix string
	// ServicePostgresURL overrides the database URL of one service (used as is; the
	// database must exist unless PostgresURL is set, which is then used to create it).
	ServicePostgresURL map[string]string
	// ServiceMongoURL overrides the MongoDB URL of one service.
	ServiceMongoURL map[string]string

	// HTTPAddr is where /healthz, /readyz, /metrics, the status page and the edge listen.
	// Port 0 picks a free port (see [System.HTTPURL]).
	HTTPAddr string

	// Services to start; empty means every registered service.
	Services []string

	// External is the production shape (`moa serve`): nothing is started locally, and a
	// missing NATS URL, or a missing database URL for a service that needs one, is an error.
	External bool

	// DrainTimeout bounds how long Stop lets in-flight handlers finish.
	DrainTimeout time.Duration

	// DurabilityWatch is how often the durability guard re-checks the streams the services
	// rely on (replicas edited down, offline or lagging); /readyz and /status show what it
	// found. Zero: bus.DurabilityWatchInterval.
	DurabilityWatch time.Duration
	// StartupPatience bounds how long each start-up step retries a JetStream (or database)
	// that is busy or not ready (bus.WithStartupPatience; 0: bus.DefaultStartupPatience).
	StartupPatience time.Duration

	// Logger for the system and, with a "service" attribute, for each service.
	Logger *slog.Logger

	// TracerProvider, when set, gives the OpenTelemetry tracer provider of the system's
	// runtime (service "") and of each service's own runtime (its name; see
	// NATSConfig.Authorize); nil: the global provider, which exports nothing unless someone
	// set one (internal/telemetry builds this from the OTEL_* environment for moa dev/serve).
	TracerProvider func(service string) trace.TracerProvider

	// Setting returns a service's own setting; default: the environment variable
	// MOA_<SERVICE>_<KEY>. See [SettingEnv].
	Setting func(service, key string) string

	// Registry replaces the built-in service registry (tests hosting their own services).
	Registry map[string]Registration
}

// NATSConfig says where the bus is.
type NATSConfig struct {
	// URL of external servers (comma-separated). Empty: an embedded server on Addr.
	URL string
	// Addr is the embedded server's listen address (default 127.0.0.1:4223; port 0 picks a
	// free port).
	Addr string
	// SyncAlways makes the embedded server fsync every JetStream write before acking it.
	// `moa dev` sets it unless --nats-sync-always=false; the zero value (tests) does not.
	SyncAlways bool

	// InboxPrefix replaces "_INBOX" in the reply subjects of this process's connection. The
	// production NATS permissions (deploy/nats/nats.conf) let each service's user subscribe to
	// its own inbox space only, so one service cannot read the replies meant for another.
	// Default: [InboxPrefix](service) for an External process running one service, "_INBOX"
	// otherwise.
	InboxPrefix string

	// Authorize makes the embedded server admit only the users of NATSUsers: each service of
	// the process connects as itself, with the permissions production gives it, and the
	// process itself and the operator tools as OperatorNATSUser, whose password is kept in
	// DataDir/nats/operator.password (see System.OperatorNATSURL). `moa dev` sets it; the zero
	// value (tests) leaves the embedded server open. Ignored with URL.
	Authorize bool
	// ServerLog, when set, receives the embedded server's log from before the first client
	// connects (systemtest fails a test on a permissions violation in it). Ignored with URL.
	ServerLog server.Logger

	// Credentials and TLS for external servers (see bus.ConnectConfig).
	Creds    string
	NKey     string
	User     string
	Password string
	Token    string
	TLSCert  string
	TLSKey   string
	TLSCA    string
}

// SettingEnv is the environment variable holding a service setting: MOA_<SERVICE>_<KEY>,
// upper-cased, with '-' and '.' turned into '_'.
func SettingEnv(service, key string) string {
	r := strings.NewReplacer("-", "_", ".", "_")
	return "MOA_" + strings.ToUpper(r.Replace(service)) + "_" + strings.ToUpper(r.Replace(key))
}

// InboxPrefix is the default reply-subject prefix of a process running only service:
// _INBOX_<service>.
func InboxPrefix(service string) string { return "_INBOX_" + service }

// DatabaseName is the name of a service's own PostgreSQL and MongoDB databases.
func DatabaseName(prefix, service string) string {
	if prefix == "" {
		prefix = DefaultDatabasePrefix
	}
	return prefix + strings.ReplaceAll(service, "-", "_")
}

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.NATS.Addr == "" {
		c.NATS.Addr = DefaultNATSAddr
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.DatabasePrefix == "" {
		c.DatabasePrefix = DefaultDatabasePrefix
	}
	if c.MongoBackend == "" {
		c.MongoBackend = DefaultMongoBackend
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Setting == nil {
		c.Setting = func(service, key string) string { return os.Getenv(SettingEnv(service, key)) }
	}
	if c.Registry == nil {
		c.Registry = registry
	}
	if sel := c.selected(); c.NATS.InboxPrefix == "" && c.External && len(sel) == 1 {
		c.NATS.InboxPrefix = InboxPrefix(sel[0])
	}
}

// validate checks what can be checked before anything starts, so a typo fails in
// milliseconds rather than after PostgreSQL was initialised.
func (c *Config) validate() error {
	var errs []error
	if c.External {
		if c.NATS.URL == "" {
			errs = append(errs, errors.New("no NATS URL: set MOA_NATS_URL (or --nats-url)"))
		}
	} else if _, _, err := splitAddr(c.NATS.Addr); err != nil {
		errs = append(errs, fmt.Errorf("nats addr %q: %w", c.NATS.Addr, err))
	}
	if p := c.NATS.InboxPrefix; p != "" && !validInboxPrefix(p) {
		errs = append(errs, fmt.Errorf("nats inbox prefix %q: use subject tokens without wildcards, spaces or a trailing '.'", p))
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("http addr %q: %w", c.HTTPAddr, err))
	}
	if !validPrefix(c.DatabasePrefix) {
		errs = append(errs, fmt.Errorf("database prefix %q: use lower-case letters, digits and '_'", c.DatabasePrefix))
	}
	if !slices.Contains(docstore.Backends, c.MongoBackend) {
		errs = append(errs, fmt.Errorf("mongo backend %q: want %s", c.MongoBackend, strings.Join(docstore.Backends, " or ")))
	}
	for _, name := range c.Services {
		if _, ok := c.Registry[name]; !ok {
			errs = append(errs, fmt.Errorf("unknown service %q (known: %s)", name, strings.Join(names(c.Registry), ", ")))
		}
	}
	return errors.Join(errs...)
}

// selected returns the services to start, in start order: by name, fronts (Mount) last.
func (c *Config) selected() []string {
	var out []string
	if len(c.Services) == 0 {
		out = names(c.Registry)
	} else {
		seen := map[string]bool{}
		for _, s := range c.Services {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return c.Registry[out[i]].Mount == "" && c.Registry[out[j]].Mount != ""
	})
	return out
}

// mountsRoot reports whether a selected service serves "/" (the edge's web app).
func (c *Config) mountsRoot(selected []string) bool {
	for _, n := range selected {
		if m := c.Registry[n].Mount; m == "/" || m == "GET /" {
			return true
		}
	}
	return false
}

func (c *Config) natsDir() string  { return filepath.Join(c.DataDir, "nats") }
func (c *Config) pgDir() string    { return filepath.Join(c.DataDir, "pg") }
func (c *Config) mongoDir() string { return filepath.Join(c.DataDir, "mongo") }

// splitAddr parses an embedded server address. Port 0 becomes -1, which nats-server reads
// as "pick a free port" (0 would mean its default, 4222).
func splitAddr(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = -1
	}
	return host, port, nil
}

func validPrefix(p string) bool {
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return p != ""
}

// validInboxPrefix reports whether p can start a subject: tokens of printable characters
// without wildcards, separated by single dots.
func validInboxPrefix(p string) bool {
	for _, tok := range strings.Split(p, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return false
		}
	}
	return true
}
