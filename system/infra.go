package system

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/internal/docstore"
	"github.com/moa-run/moa/internal/pglocal"
)

// startNATS starts the embedded server (unless a URL is configured) and connects to it.
// /readyz and the status page may look while this runs, hence the lock around the results.
func (s *System) startNATS() error {
	c := &s.cfg
	natsURL := c.NATS.URL
	if natsURL == "" {
		host, port, _ := splitAddr(c.NATS.Addr) // validated
		if err := os.MkdirAll(c.natsDir(), 0o755); err != nil {
			return fmt.Errorf("nats store: %w", err)
		}
		ec := bus.EmbeddedConfig{Host: host, Port: port, StoreDir: c.natsDir(), SyncAlways: c.NATS.SyncAlways}
		if c.NATS.Authorize {
			d, err := newDevNATS(c.natsDir())
			if err != nil {
				return err
			}
			s.dev, ec.Users = d, d.serverUsers()
		}
		ns, err := bus.StartEmbedded(ec)
		if err != nil {
			return err
		}
		if c.NATS.ServerLog != nil {
			// No client has connected yet: nothing the server would log about one is missed.
			ns.SetLoggerV2(c.NATS.ServerLog, false, false, false)
		}
		s.mu.Lock()
		s.ns = ns
		s.mu.Unlock()
		natsURL = ns.ClientURL()
	}
	user, password := c.NATS.User, c.NATS.Password
	if s.dev != nil {
		// The process declares every stream and answers the status page's checks: the
		// operator's user, which may do everything.
		user, password = OperatorNATSUser, s.dev.passwords[OperatorNATSUser]
	}
	nc, err := bus.Connect(bus.ConnectConfig{
		URLs: natsURL, Name: s.connName(),
		Creds: c.NATS.Creds, NKeySeed: c.NATS.NKey, User: user, Password: password,
		Token: c.NATS.Token, TLSCert: c.NATS.TLSCert, TLSKey: c.NATS.TLSKey, TLSCA: c.NATS.TLSCA,
		InboxPrefix: c.NATS.InboxPrefix,
	})
	if err != nil {
		return err
	}
	if c.NATS.URL != "" {
		natsURL = nc.ConnectedUrlRedacted()
	}
	s.mu.Lock()
	s.nc, s.natsURL = nc, natsURL
	s.mu.Unlock()
	return nil
}

// serviceRuntime connects a service of an authorized embedded server (NATSConfig.Authorize)
// as its own NATS user, replies in its own inbox space, and returns its runtime.
func (s *System) serviceRuntime(name string) (*bus.Runtime, error) {
	nc, err := bus.Connect(bus.ConnectConfig{
		URLs: s.NATSURL(), Name: s.connName() + " " + name,
		User: name, Password: s.dev.passwords[name], InboxPrefix: InboxPrefix(name),
	})
	if err != nil {
		return nil, fmt.Errorf("nats as %s: %w", name, err)
	}
	rt, err := bus.New(nc, s.runtimeOptions(name)...)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return rt, nil
}

// OperatorNATSURL is the URL, with the operator user's credentials, that the operator tools
// and the NATS CLI connect to an authorized embedded server with (NATSConfig.Authorize);
// NATSURL otherwise.
func (s *System) OperatorNATSURL() string { return s.ServiceNATSURL(OperatorNATSUser) }

// ServiceNATSURL is the URL, with service's credentials, that another instance of a service
// connects to an authorized embedded server with (NATSConfig.Authorize), as a separate
// process would (its replies under InboxPrefix(service)); NATSURL otherwise, and for a
// service with no user of its own.
func (s *System) ServiceNATSURL(service string) string {
	u := s.NATSURL()
	if s.dev == nil || u == "" {
		return u
	}
	pw, ok := s.dev.passwords[service]
	if !ok {
		return u
	}
	return withUser(u, service, pw)
}

func (s *System) connName() string {
	if s.cfg.External {
		return "moa serve " + strings.Join(s.names, " ")
	}
	return "moa dev"
}

func (s *System) stopNATS() {
	if s.nc != nil && !s.nc.IsClosed() {
		s.nc.Close()
	}
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	}
}

// startPostgres returns the URL services' databases are created through: the configured
// server, or a local one started under DataDir/pg.
func (s *System) startPostgres(ctx context.Context) error {
	if s.cfg.PostgresURL != "" || s.cfg.External {
		return nil // pgAdmin is the configured URL, set by Start
	}
	pg, err := pglocal.Start(ctx, pglocal.Config{
		DataDir: s.cfg.pgDir(),
		Port:    s.cfg.PostgresPort,
		Logger:  s.log.With("component", "postgres"),
	})
	if err != nil {
		return err
	}
	s.pg = pg
	s.pgAdmin = pg.URL("postgres")
	return nil
}

// postgresFor returns the URL of a service's own database, creating the database when it
// does not exist yet and an admin URL is known.
func (s *System) postgresFor(ctx context.Context, name string) (string, error) {
	dbURL := s.cfg.ServicePostgresURL[name]
	if dbURL == "" {
		if s.pgAdmin == "" {
			return "", fmt.Errorf("%s needs PostgreSQL: set MOA_POSTGRES_URL or %s", name, SettingEnv(name, "postgres_url"))
		}
		db := DatabaseName(s.cfg.DatabasePrefix, name)
		u, err := withDatabase(s.pgAdmin, db)
		if err != nil {
			return "", err
		}
		dbURL = u
	}
	if err := s.ensureDatabase(ctx, dbURL); err != nil {
		return "", fmt.Errorf("%s database: %w", name, err)
	}
	return dbURL, nil
}

// ensureDatabase connects to dbURL and, if the database does not exist, creates it through
// the admin URL. Instances starting at once may all try: a loser's duplicate_database (42P04)
// or, when the creations overlap, unique_violation on pg_database's name index (23505) is
// success.
func (s *System) ensureDatabase(ctx context.Context, dbURL string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := ping(ctx, dbURL)
	var pgErr *pgconn.PgError
	if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "3D000" || s.pgAdmin == "" {
		return err
	}
	cfg, perr := pgx.ParseConfig(dbURL)
	if perr != nil {
		return perr
	}
	s.log.Info("creating database", "database", cfg.Database)
	if err := pglocal.CreateDatabase(ctx, s.pgAdmin, cfg.Database); err != nil {
		if !errors.As(err, &pgErr) || (pgErr.Code != "42P04" && pgErr.Code != "23505") {
			return err
		}
	}
	return ping(ctx, dbURL)
}

func ping(ctx context.Context, dbURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// withDatabase returns the URL u with its database replaced by db. Only URL syntax is
// accepted (postgres://user:pass@host:port/db?params): key=value DSNs cannot be rewritten
// safely, and MOA_<SERVICE>_POSTGRES_URL covers that case.
func withDatabase(u, db string) (string, error) {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "postgres" && p.Scheme != "postgresql") {
		return "", fmt.Errorf("PostgreSQL URL must look like postgres://user:password@host:port/postgres, not %q", redactURL(u))
	}
	p.Path = "/" + db
	p.RawPath = ""
	return p.String(), nil
}

func (s *System) stopPostgres(ctx context.Context) error {
	if s.pg == nil {
		return nil
	}
	return s.pg.Stop(ctx)
}

// startMongo starts the embedded FerretDB unless a URL is configured: on SQLite files under
// DataDir/mongo, or on PostgreSQL in a database of its own (see docsDatabaseURL).
func (s *System) startMongo(ctx context.Context) error {
	if s.cfg.MongoURL != "" || s.cfg.External {
		return nil // mongoURL is the configured URL, set by Start
	}
	cfg := docstore.Config{Backend: s.cfg.MongoBackend, Dir: s.cfg.mongoDir(), Addr: "127.0.0.1:0"}
	if s.embeddedMongoOnPostgres() {
		u, err := s.docsDatabaseURL(ctx)
		if err != nil {
			return err
		}
		cfg.Dir, cfg.PostgreSQLURL = "", u
	}
	st, err := docstore.Start(ctx, cfg)
	if err != nil {
		return err
	}
	s.docs = st
	s.mongoURL = st.URI()
	return nil
}

// embeddedMongoOnPostgres reports whether the embedded FerretDB keeps its documents in
// PostgreSQL, which must then be started first.
func (s *System) embeddedMongoOnPostgres() bool {
	return s.cfg.MongoURL == "" && !s.cfg.External && s.cfg.MongoBackend == MongoBackendPostgreSQL
}

// docsDatabaseURL returns, creating it when missing, the PostgreSQL database the embedded
// FerretDB stores documents in: <prefix>docs (moa_docs), beside the services' own databases
// on the same server. FerretDB makes one schema in it per MongoDB database (moa_chat, ...).
func (s *System) docsDatabaseURL(ctx context.Context) (string, error) {
	if s.pgAdmin == "" {
		return "", errors.New("the postgresql mongo backend needs PostgreSQL: set MOA_POSTGRES_URL or let moa dev start its own")
	}
	u, err := withDatabase(s.pgAdmin, DatabaseName(s.cfg.DatabasePrefix, "docs"))
	if err != nil {
		return "", err
	}
	if err := s.ensureDatabase(ctx, u); err != nil {
		return "", fmt.Errorf("documents database: %w", err)
	}
	return u, nil
}

func (s *System) mongoFor(name string) (string, error) {
	if u := s.cfg.ServiceMongoURL[name]; u != "" {
		return u, nil
	}
	if s.mongoURL == "" {
		return "", fmt.Errorf("%s needs MongoDB: set MOA_MONGO_URL or %s", name, SettingEnv(name, "mongo_url"))
	}
	return s.mongoURL, nil
}

func (s *System) stopMongo() error {
	if s.docs == nil {
		return nil
	}
	return s.docs.Close()
}

// redactURL hides a password in u for messages and the status page.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		if err != nil {
			return "(unparsable URL)"
		}
		return u
	}
	return p.Redacted()
}
