package bus

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Runtime hosts services and consumers on one NATS connection. One runtime per process is the
// usual shape; `moa dev` hosts every service on one, `moa serve x` hosts x.
type Runtime struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	log     *slog.Logger
	metrics *metrics
	reg     prometheus.Registerer
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	extra   []Middleware
	client  *Client
	// embedded is the in-process server nc connects to, if any (WithEmbeddedServer).
	embedded *server.Server
	// patience bounds each start-up step's retries (WithStartupPatience; 0: the default).
	patience time.Duration

	// ctx is the parent of every handler context; canceled by Close after the drain timeout.
	ctx    context.Context
	cancel context.CancelFunc

	mu             sync.Mutex
	closed         bool
	services       []*Service
	consumers      []*Consumer
	inflight       sync.WaitGroup
	durWarn        map[string]string // DurabilityWarnings by key
	sharedWarnings *SharedWarnings   // logs each durability warning once across runtimes (WithSharedWarnings)
	capped         []string          // CappedStreams

	syncMu   sync.Mutex
	syncRead *syncState // the servers' sync setting, read by the first CheckDurability

	guard guardState // the durability guard's peer count and watch (durability_watch.go)
}

// Option configures a Runtime.
type Option func(*Runtime)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(r *Runtime) { r.log = l } }

// WithRegisterer sets where metrics are registered (default: a private registry, see
// [Runtime.Registry]). Runtimes sharing one registerer share collectors.
func WithRegisterer(reg prometheus.Registerer) Option { return func(r *Runtime) { r.reg = reg } }

// WithTracerProvider sets the OpenTelemetry tracer provider (default otel.GetTracerProvider()).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(r *Runtime) { r.tracer = tp.Tracer("github.com/moa-run/moa/bus") }
}

// WithPropagator sets the trace context propagator (default W3C trace context + baggage).
func WithPropagator(p propagation.TextMapPropagator) Option { return func(r *Runtime) { r.prop = p } }

// WithMiddleware adds middleware inside the built-in chain, for every endpoint and consumer.
func WithMiddleware(mws ...Middleware) Option {
	return func(r *Runtime) { r.extra = append(r.extra, mws...) }
}

// New creates a runtime on an open connection. The runtime does not own nc's lifetime unless
// Close is told so; services and consumers are added with AddService and Consume.
func New(nc *nats.Conn, opts ...Option) (*Runtime, error) {
	if nc == nil {
		return nil, errors.New("bus: nil connection")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	r := &Runtime{
		nc:     nc,
		js:     js,
		log:    slog.Default(),
		tracer: otel.GetTracerProvider().Tracer("github.com/moa-run/moa/bus"),
		prop:   propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	for _, o := range opts {
		o(r)
	}
	if r.reg == nil {
		r.reg = prometheus.NewRegistry()
	}
	r.metrics = newMetrics(r.reg)
	r.metrics.lag.add(r)
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.client = r.NewClient("runtime")
	return r, nil
}

// Conn returns the runtime's connection.
func (r *Runtime) Conn() *nats.Conn { return r.nc }

// JetStream returns the runtime's JetStream context.
func (r *Runtime) JetStream() jetstream.JetStream { return r.js }

// Logger returns the runtime's logger.
func (r *Runtime) Logger() *slog.Logger { return r.log }

// Registry returns the registerer metrics go to; when it is also a Gatherer (the default
// private registry is) it can be served on /metrics.
func (r *Runtime) Registry() prometheus.Registerer { return r.reg }

// Tracer returns the runtime's tracer (WithTracerProvider), for the spans of hops outside
// the middleware chain, such as an outbox relay's publish.
func (r *Runtime) Tracer() trace.Tracer { return r.tracer }

// Client returns the runtime's default client for typed calls.
func (r *Runtime) Client() *Client { return r.client }

// chain is the one place where the built-in middleware is composed. Order matters: tracing
// first, so metrics and logs carry the trace; recovery innermost, so a panic is turned into an
// error that metrics and logs then count like any other.
func (r *Runtime) chain(h Handler) Handler {
	mws := []Middleware{Tracing(r.tracer, r.prop), Metrics(r.metrics), Logging(r.log)}
	mws = append(mws, r.extra...)
	mws = append(mws, Recover(r.metrics))
	return Chain(h, mws...)
}

// Close stops every service and consumer: no new messages are taken, in-flight handlers get
// until ctx is done to finish, then their contexts are canceled. The connection is drained
// (pending publishes flushed) but only closed if the caller owns it: pass closeConn.
func (r *Runtime) Close(ctx context.Context, closeConn bool) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	services, consumers := r.services, r.consumers
	r.mu.Unlock()
	r.metrics.lag.remove(r)

	errs := []error{r.stopWatch(ctx)}
	for _, s := range services {
		errs = append(errs, s.stop())
	}
	for _, c := range consumers {
		c.stopFetching()
	}
	done := make(chan struct{})
	go func() {
		r.inflight.Wait()
		for _, c := range consumers {
			c.wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		r.cancel() // handlers past the drain budget are told to give up
		<-done
	}
	r.cancel()
	if closeConn {
		errs = append(errs, DrainConn(ctx, r.nc))
	} else {
		errs = append(errs, r.nc.FlushWithContext(ctx))
	}
	return errors.Join(errs...)
}

// DrainConn drains nc (pending publishes are flushed, subscriptions finish) and waits until it
// is closed or ctx ends, then closes it regardless.
func DrainConn(ctx context.Context, nc *nats.Conn) error {
	if nc.IsClosed() {
		return nil
	}
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return nil
	}
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		nc.Close()
		return ctx.Err()
	}
}
