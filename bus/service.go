package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/contracts"
)

// DefaultMaxInFlight bounds concurrent handlers per endpoint per instance (the service-side
// bulkhead). Requests past it wait in the endpoint's queue.
const DefaultMaxInFlight = 512

// DefaultMaxQueue bounds the requests waiting for a handler slot per endpoint per instance.
// Past it the service sheds load: it answers contracts.ErrOverloaded at once instead of
// queueing without bound, and $SRV.STATS counts it.
const DefaultMaxQueue = 512

// Service is one service (in the NATS service protocol's sense, see Discovery) hosted by a runtime. Its endpoints run requests concurrently,
// each on one of the endpoint's workers, so a slow request does not hold up the ones behind
// it for more than half a millisecond (handoffAfter); the in-flight bound and the queue bound keep that from growing without limit (see
// bulkhead.go).
type Service struct {
	rt   *Runtime
	spec contracts.Service
	svc  *Discovery
	rm   *resilienceMetrics
	// verifier checks the tokens of endpoints whose access admits roles (UseVerifier).
	verifier TokenVerifier

	mu        sync.Mutex
	endpoints map[string]*endpoint
	quit      chan struct{} // closed by stop: idle workers exit
	quitOnce  sync.Once

	// admitted counts requests taken and not yet answered; once stopping is set no request is
	// admitted, so Stop can wait for the count to reach zero.
	admitMu  sync.Mutex
	stopping bool
	admitted sync.WaitGroup
}

// endpoint is the runtime state of one registered endpoint.
type endpoint struct {
	name        string
	subject     string
	spanName    string // "<service> <name>", the server span's name
	timeout     time.Duration
	handler     Handler
	pool        pool         // the workers and the queue (bulkhead.go)
	workers     atomic.Int64 // live workers, at most maxInFlight; changed under pool.mu
	idleFor     time.Duration
	inflight    atomic.Int64 // handlers running
	jobTime     atomic.Int64 // moving average of a worker's time per request, in ns (bulkhead.go)
	shed        atomic.Int64
	expired     atomic.Int64
	errors      atomic.Int64
	maxInFlight int
	maxQueue    int
	disc        *discoveryEndpoint // its $SRV.INFO and $SRV.STATS entry
}

// EndpointStats is what Moa adds to an endpoint's $SRV.STATS entry (the "data" field).
type EndpointStats struct {
	InFlight    int64 `json:"in_flight"`     // handlers running
	MaxInFlight int   `json:"max_in_flight"` // bound on handlers running
	Queued      int64 `json:"queued"`        // requests waiting for a handler slot
	MaxQueue    int   `json:"max_queue"`     // bound on waiting requests; past it requests are shed
	Shed        int64 `json:"shed"`          // requests answered "overloaded" at once
	Expired     int64 `json:"expired"`       // requests whose deadline passed while they waited
	Errors      int64 `json:"errors"`        // handler errors
}

// AddService registers a service on the runtime's connection. From this call on the
// service answers $SRV.PING, $SRV.INFO and $SRV.STATS; endpoints are added with [Handle].
func (r *Runtime) AddService(spec contracts.Service) (*Service, error) {
	s := &Service{rt: r, spec: spec, endpoints: map[string]*endpoint{}, rm: newResilienceMetrics(r.reg), quit: make(chan struct{})}
	svc, err := newDiscovery(r.nc, spec.Name, spec.Version, spec.Description,
		map[string]string{"moa.subject_prefix": spec.Prefix()},
		func(name string) any {
			s.mu.Lock()
			ep := s.endpoints[name]
			s.mu.Unlock()
			if ep == nil {
				return nil
			}
			return ep.stats()
		})
	if err != nil {
		return nil, fmt.Errorf("bus: add service %s: %w", spec.Name, err)
	}
	s.svc = svc
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		_ = svc.Stop()
		return nil, errors.New("bus: runtime closed")
	}
	r.services = append(r.services, s)
	return s, nil
}

// Name returns the service name.
func (s *Service) Name() string { return s.spec.Name }

// Micro returns the service's side of the NATS service protocol (its Info and Stats, and Stop
// to take it off the bus as a crashed process would be).
func (s *Service) Micro() *Discovery { return s.svc }

// UseVerifier sets what verifies the access tokens of the service's requests. Call it before
// [Handle]: an endpoint that only signed-in callers may use cannot be registered without it.
func (s *Service) UseVerifier(v TokenVerifier) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.verifier = v
}

// EndpointOption configures one endpoint.
type EndpointOption func(*endpoint)

// MaxInFlight sets the endpoint's concurrent handler bound (default DefaultMaxInFlight).
func MaxInFlight(n int) EndpointOption { return func(e *endpoint) { e.maxInFlight = max(n, 1) } }

// MaxQueue sets how many requests may wait for a handler slot (default DefaultMaxQueue); 0
// sheds every request that finds all slots taken.
func MaxQueue(n int) EndpointOption { return func(e *endpoint) { e.maxQueue = max(n, 0) } }

func (e *endpoint) stats() EndpointStats {
	e.pool.mu.Lock()
	queued := e.pool.queued()
	e.pool.mu.Unlock()
	return EndpointStats{
		InFlight: e.inflight.Load(), MaxInFlight: e.maxInFlight, Queued: int64(queued), MaxQueue: e.maxQueue,
		Shed: e.shed.Load(), Expired: e.expired.Load(), Errors: e.errors.Load(),
	}
}

// Handle registers fn as the handler of ep on s. The request body is decoded strictly (unknown
// fields, missing required fields and Validate failures become validation errors naming the
// field); then the caller is checked against the endpoint's declared access ([Authorize]),
// and fn runs with the verified caller on its context ([Caller]); fn's response is encoded as
// JSON.
func Handle[Req, Resp any](s *Service, ep contracts.Endpoint[Req, Resp], fn func(ctx context.Context, req Req) (Resp, error), opts ...EndpointOption) error {
	s.mu.Lock()
	v := s.verifier
	s.mu.Unlock()
	// Without a verifier an endpoint that only signed-in users may call could answer nothing;
	// one that also admits callers without a token serves them and refuses tokens (authorizer).
	if ep.Access.Roles() != 0 && !ep.Access.NoToken() && v == nil {
		return fmt.Errorf("bus: %s admits %s callers, but service %s has no token verifier (UseVerifier)", ep.Subject(), ep.Access, s.spec.Name)
	}
	authorize := authorizer(ep.Access, v)
	h := func(ctx context.Context, m *Msg) ([]byte, error) {
		req, err := decodeRequest[Req](m.Data)
		if err != nil {
			return nil, err
		}
		if ctx, err = authorize(ctx, m.Subject); err != nil {
			return nil, err
		}
		resp, err := fn(ctx, req)
		if err != nil {
			return nil, err
		}
		return json.Marshal(resp)
	}
	info := ep.Info()
	meta := map[string]string{
		"moa.timeout":    info.Timeout.String(),
		"moa.idempotent": strconv.FormatBool(info.Idempotent),
		"moa.access":     info.Access.String(),
	}
	if info.Description != "" {
		meta["description"] = info.Description
	}
	return s.HandleRaw(ep.Name, ep.Deadline(), meta, h, opts...)
}

// HandleRaw registers an untyped handler for endpoint name (subject <prefix>.<name>).
// timeout is the handler deadline for callers that send none. When it returns, the server
// has the endpoint's subscription (it waits up to a second for the confirmation).
func (s *Service) HandleRaw(name string, timeout time.Duration, meta map[string]string, h Handler, opts ...EndpointOption) error {
	e := &endpoint{name: name, subject: s.spec.Prefix() + "." + name, spanName: s.spec.Name + " " + name, timeout: timeout,
		maxInFlight: DefaultMaxInFlight, maxQueue: DefaultMaxQueue, idleFor: workerIdle}
	for _, o := range opts {
		o(e)
	}
	e.handler = s.rt.chain(deadlineErrors(h))
	s.mu.Lock()
	if _, dup := s.endpoints[name]; dup {
		s.mu.Unlock()
		return fmt.Errorf("bus: endpoint %s registered twice", e.subject)
	}
	s.endpoints[name] = e
	s.mu.Unlock()
	err := s.svc.addEndpoint(name, e.subject, meta, func(de *discoveryEndpoint) { e.disc = de }, func(m *nats.Msg) { s.dispatch(e, m) })
	if err != nil {
		s.mu.Lock()
		delete(s.endpoints, name)
		s.mu.Unlock()
		return fmt.Errorf("bus: endpoint %s: %w", e.subject, err)
	}
	// Wait for the server to have the subscription, so that a request sent from another
	// connection right after Handle returns finds the endpoint. Best effort: while the
	// connection is down the subscription is replayed on reconnect anyway.
	_ = s.rt.nc.FlushTimeout(time.Second)
	return nil
}

// deadlineErrors reports a handler that gave up because its context ended as the catalogue's
// deadline_exceeded or canceled, instead of an anonymous internal error.
func deadlineErrors(h Handler) Handler {
	return func(ctx context.Context, m *Msg) ([]byte, error) {
		out, err := h(ctx, m)
		if err == nil || ctx.Err() == nil {
			return out, err
		}
		var ce *contracts.Error
		if errors.As(err, &ce) {
			return out, err
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, contracts.ErrTimeout.Msg("%s passed its deadline", m.Subject).Wrap(err)
		}
		return nil, contracts.ErrCanceled.Msg("%s was canceled", m.Subject).Wrap(err)
	}
}

// answer replies to j, a request of e, and counts it in e's $SRV.STATS entry: from its arrival
// to its answer, an error answer (shed, expired, refused, failed) as an error.
func (s *Service) answer(e *endpoint, j *job, body []byte, err error) {
	// Counted before the reply leaves, so a caller that asks for the stats right after its
	// answer finds its request in them.
	s.svc.record(e.disc, time.Since(j.arrived), err)
	s.respond(j.reply, body, err)
}

// respond publishes the reply (with the error headers of the NATS service protocol when err is
// not nil) to reply; a request without a reply subject gets none.
func (s *Service) respond(reply string, body []byte, err error) {
	if reply == "" {
		return
	}
	var m *nats.Msg
	if err != nil {
		m = errorReply(err)
	} else {
		if max := s.rt.nc.MaxPayload(); int64(len(body)) > max-1024 {
			m = errorReply(contracts.ErrPayloadTooBig.Msg("the reply is %d bytes; the server accepts %d", len(body), max))
		} else {
			m = &nats.Msg{Data: body}
		}
	}
	m.Subject = reply
	if perr := s.rt.nc.PublishMsg(m); perr != nil {
		s.rt.log.Warn("reply failed", "service", s.spec.Name, "error", perr)
	}
}

// stop drains the service's subscriptions so no new request is taken.
func (s *Service) stop() error {
	s.admitMu.Lock()
	s.stopping = true
	s.admitMu.Unlock()
	err := s.svc.Stop()
	s.quitOnce.Do(func() { close(s.quit) })
	return err
}

// Stop stops this service alone: it takes no new request (one that still arrives is answered
// unavailable), then waits until every request it took has been answered, or ctx ends. A
// component calls it before closing the stores its handlers use; the runtime's Close stops
// every service anyway.
func (s *Service) Stop(ctx context.Context) error {
	err := s.stop()
	done := make(chan struct{})
	go func() { s.admitted.Wait(); close(done) }()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
}

// admit counts one request in, unless the service is stopping.
func (s *Service) admit() bool {
	s.admitMu.Lock()
	defer s.admitMu.Unlock()
	if s.stopping {
		return false
	}
	s.admitted.Add(1)
	s.rt.inflight.Add(1)
	return true
}

// release counts one admitted request out.
func (s *Service) release() {
	s.admitted.Done()
	s.rt.inflight.Done()
}
