package system

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/internal/docstore"
	"github.com/moa-run/moa/internal/pglocal"
)

// infraStopTimeout bounds stopping the local databases. It is separate from the caller's
// context so that a drain that used up its budget still leaves PostgreSQL a clean shutdown.
const infraStopTimeout = 30 * time.Second

// State is where a System is in its life.
type State string

const (
	StateStarting State = "starting"
	StateReady    State = "ready"
	StateStopping State = "stopping"
	StateStopped  State = "stopped"
)

// System is a running Moa process: infrastructure, one runtime, the selected services and
// the HTTP server.
type System struct {
	cfg   Config
	log   *slog.Logger
	names []string // selected services, in start order

	pg       *pglocal.Server // local PostgreSQL, nil when external or unused
	pgAdmin  string
	docs     *docstore.Store // embedded FerretDB, nil when external or unused
	mongoURL string
	reg      *prometheus.Registry
	web      *web
	warnings bus.SharedWarnings // the services' runtimes log each durability warning once

	// mu guards what the HTTP handlers may read while Start is still running.
	mu      sync.Mutex
	state   State
	started []startedService
	ns      *server.Server // embedded NATS, nil when external
	dev     *devNATS       // its users, when NATSConfig.Authorize
	nc      *nats.Conn
	natsURL string
	rt      *bus.Runtime

	stopOnce sync.Once
	stopErr  error
}

type startedService struct {
	name  string
	env   bus.Env
	comp  bus.Component
	front bool // mounted on the HTTP server (Registration.Mount)
	// rt is the service's own runtime, on a connection as its own NATS user, when the
	// embedded server is authorized (NATSConfig.Authorize); nil when it shares the system's.
	rt *bus.Runtime
}

// Start brings the system up: HTTP listener (so /healthz answers while databases start),
// NATS, every stream declared in contracts (not in the External shape), databases, then each
// selected service in name order, fronts (Registration.Mount, the edge) last. It returns once
// every service's Start returned; on any failure what was started is stopped again.
func Start(ctx context.Context, cfg Config) (*System, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("system: %w", err)
	}
	s := &System{cfg: cfg, log: cfg.Logger, names: cfg.selected(), state: StateStarting,
		pgAdmin: cfg.PostgresURL, mongoURL: cfg.MongoURL}
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w, err := s.listenHTTP()
	if err != nil {
		return nil, fmt.Errorf("system: http: %w", err)
	}
	s.web = w
	if cfg.External {
		s.log.Info("moa starting", "services", s.names)
	} else {
		s.log.Info("moa starting", "services", s.names, "data_dir", cfg.DataDir)
	}
	if err := s.start(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.DrainTimeout)
		defer cancel()
		if serr := s.Stop(stopCtx); serr != nil {
			s.log.Warn("stopping after a failed start", "error", serr)
		}
		return nil, fmt.Errorf("system: %w", err)
	}
	s.setState(StateReady)
	if capped := s.cappedStreams(); len(capped) > 0 {
		// One line for what every service's check found on a single server, not one per
		// stream and service.
		s.log.Info("streams have fewer replicas than declared: JetStream runs on fewer servers than that (not a cluster)",
			"streams", capped)
	}
	s.log.Info("moa ready", "nats", s.natsURL, "web", s.HTTPURL(), "services", s.names)
	return s, nil
}

func (s *System) start(ctx context.Context) error {
	needPG, needMongo := false, false
	// A service whose database URL is given on its own needs no server from us.
	for _, n := range s.names {
		r := s.cfg.Registry[n]
		needPG = needPG || r.Postgres && s.cfg.ServicePostgresURL[n] == ""
		needMongo = needMongo || r.Mongo && s.cfg.ServiceMongoURL[n] == ""
	}
	// The databases start beside NATS: initdb on a first run takes seconds, and nothing about
	// NATS depends on it.
	g, gctx := errgroup.WithContext(ctx)
	// FerretDB on PostgreSQL stores its documents on the PostgreSQL server started here, so
	// it starts after it.
	mongoOnPG := needMongo && s.embeddedMongoOnPostgres()
	if needPG || mongoOnPG {
		g.Go(func() error {
			if err := wrap("postgres", s.startPostgres(gctx)); err != nil || !mongoOnPG {
				return err
			}
			return wrap("mongodb", s.startMongo(gctx))
		})
	}
	if needMongo && !mongoOnPG {
		g.Go(func() error { return wrap("mongodb", s.startMongo(gctx)) })
	}
	g.Go(func() error {
		if err := s.startNATS(); err != nil {
			return wrap("nats", err)
		}
		rt, err := bus.New(s.nc, s.runtimeOptions("")...)
		if err != nil {
			return wrap("bus", err)
		}
		s.mu.Lock()
		s.rt = rt
		s.mu.Unlock()
		if s.cfg.External {
			// In production each service creates the streams it uses, within the NATS
			// permissions of its own user (deploy/nats/nats.conf); one process creating
			// every stream would need them all.
			return nil
		}
		return wrap("streams", rt.EnsureStreams(gctx, contracts.Streams()...))
	})
	if err := g.Wait(); err != nil {
		return err
	}
	for _, name := range s.names {
		if err := s.startService(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// runtimeOptions are the options of the system's runtime (service "") and of each service's own.
func (s *System) runtimeOptions(service string) []bus.Option {
	opts := []bus.Option{bus.WithLogger(s.log), bus.WithRegisterer(s.reg), bus.WithDurabilityWatch(s.cfg.DurabilityWatch), bus.WithStartupPatience(s.cfg.StartupPatience),
		bus.WithSharedWarnings(&s.warnings)}
	if s.cfg.TracerProvider != nil {
		opts = append(opts, bus.WithTracerProvider(s.cfg.TracerProvider(service)))
	}
	if s.ns != nil {
		// The durability guard reads the embedded server's sync setting from its options.
		opts = append(opts, bus.WithEmbeddedServer(s.ns))
	}
	return opts
}

func (s *System) startService(ctx context.Context, name string) (err error) {
	reg := s.cfg.Registry[name]
	env := bus.Env{
		Runtime: s.rt,
		Logger:  s.log.With("service", name),
	}
	var own *bus.Runtime
	if s.dev != nil {
		if own, err = s.serviceRuntime(name); err != nil {
			return err
		}
		env.Runtime = own
		defer func() {
			if err != nil {
				_ = own.Close(context.WithoutCancel(ctx), true)
			}
		}()
	}
	checkSettings := s.guardedEnv(&env, name, reg)
	if reg.Postgres {
		u, err := s.postgresFor(ctx, name)
		if err != nil {
			return err
		}
		env.PostgresURL = u
	}
	if reg.Mongo {
		u, err := s.mongoFor(name)
		if err != nil {
			return err
		}
		env.MongoURL = u
		env.MongoDatabase = DatabaseName(s.cfg.DatabasePrefix, name)
	}
	comp, err := reg.Start(ctx, env)
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	if err := checkSettings(ctx, comp); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	if comp == nil {
		comp = bus.Stopper(func(context.Context) error { return nil })
	}
	s.mu.Lock()
	s.started = append(s.started, startedService{name: name, env: env, comp: comp, front: reg.Mount != "", rt: own})
	s.mu.Unlock()
	if reg.Mount != "" {
		h, ok := comp.(http.Handler)
		if !ok {
			return fmt.Errorf("start %s: its component is not an http.Handler to mount on %q", name, reg.Mount)
		}
		if err := s.Mount(reg.Mount, h); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
	}
	s.log.Info("service started", "service", name)
	return nil
}

// Stop shuts the system down: the HTTP server stops taking requests, the runtime stops its
// endpoints and consumers and lets in-flight handlers finish (up to Config.DrainTimeout or
// ctx), services release what they hold (in reverse start order), the NATS connection is
// drained, then embedded NATS, FerretDB and PostgreSQL stop. Calling it again returns the
// first result.
func (s *System) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *System) stop(ctx context.Context) error {
	s.setState(StateStopping)
	var errs []error
	if s.web != nil {
		errs = append(errs, wrap("http", s.web.shutdown(ctx)))
	}
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	// Fronts (the edge) go first: their clients are told to reconnect elsewhere while the
	// services they call still answer.
	for i := len(started) - 1; i >= 0; i-- {
		if started[i].front {
			errs = append(errs, wrap("stop "+started[i].name, started[i].comp.Stop(ctx)))
		}
	}
	dctx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
	for i := len(started) - 1; i >= 0; i-- {
		if rt := started[i].rt; rt != nil {
			errs = append(errs, wrap("drain "+started[i].name, rt.Close(dctx, false)))
		}
	}
	if s.rt != nil {
		errs = append(errs, wrap("drain", s.rt.Close(dctx, false)))
	}
	cancel()
	for i := len(started) - 1; i >= 0; i-- {
		if !started[i].front {
			errs = append(errs, wrap("stop "+started[i].name, started[i].comp.Stop(ctx)))
		}
	}
	for i := len(started) - 1; i >= 0; i-- {
		if rt := started[i].rt; rt != nil {
			errs = append(errs, wrap("nats drain "+started[i].name, bus.DrainConn(ctx, rt.Conn())))
		}
	}
	if s.nc != nil {
		errs = append(errs, wrap("nats drain", bus.DrainConn(ctx, s.nc)))
	}
	s.stopNATS()
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), infraStopTimeout)
	defer cancel()
	errs = append(errs, wrap("mongodb", s.stopMongo()), wrap("postgres", s.stopPostgres(ictx)))
	s.setState(StateStopped)
	return errors.Join(errs...)
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
