package bus

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/moa-run/moa/contracts"
)

// Request is one outgoing call as client middleware sees it.
type Request struct {
	Endpoint contracts.EndpointInfo
	Header   nats.Header
	Data     []byte

	// Per-call options (see CallOption).
	fallback Fallback
	noRetry  bool
	st       *callState // the endpoint's state, found once per call
}

// Reply is a successful reply. Degraded is set when a fallback, not the service, produced it.
type Reply struct {
	Header   nats.Header
	Data     []byte
	Degraded bool
}

// Invoker performs a call. It returns a *contracts.Error on failure. ctx carries the deadline
// the call must finish within; an Invoker never waits past it.
type Invoker func(ctx context.Context, req *Request) (*Reply, error)

// CallMiddleware wraps an Invoker: the client-side counterpart of Middleware, where retries,
// circuit breakers, bulkheads and fallbacks live.
type CallMiddleware func(Invoker) Invoker

// Client makes typed calls. Each client has a name (the calling service) used in metrics and
// keeps, per endpoint it calls, the resilience state of [Policy]: a breaker, a bulkhead; and
// one retry budget for all its calls.
type Client struct {
	rt     *Runtime
	name   string
	invoke Invoker
	cfg    clientConfig
	rm     *resilienceMetrics
	budget *retryBudget

	mu     sync.Mutex // serializes creating endpoint states
	states sync.Map   // subject -> *callState

	// infos caches Endpoint.Info per endpoint declaration: building it costs a subject
	// concatenation and two boxed zero values on every call otherwise.
	infoMu sync.RWMutex
	infos  map[endpointKey]contracts.EndpointInfo
}

// endpointKey identifies an endpoint declaration by every field Info reads (the request and
// response types aside: one subject has one pair of types, see contracts' registry).
type endpointKey struct {
	svc         contracts.Service
	name        string
	timeout     time.Duration
	idempotent  bool
	access      contracts.Access
	owner       bool
	description string
}

// info returns ep.Info(), built once per declaration.
func info[Req, Resp any](c *Client, ep contracts.Endpoint[Req, Resp]) contracts.EndpointInfo {
	k := endpointKey{svc: ep.Service, name: ep.Name, timeout: ep.Timeout, idempotent: ep.Idempotent,
		access: ep.Access, owner: ep.Owner, description: ep.Description}
	c.infoMu.RLock()
	i, ok := c.infos[k]
	c.infoMu.RUnlock()
	if ok {
		return i
	}
	i = ep.Info()
	c.infoMu.Lock()
	if c.infos == nil {
		c.infos = map[endpointKey]contracts.EndpointInfo{}
	}
	if len(c.infos) < maxCachedInfos { // a client calls a fixed set of endpoints; bound it anyway
		c.infos[k] = i
	}
	c.infoMu.Unlock()
	return i
}

const maxCachedInfos = 4096

// NewClient returns a client named after the calling service, with the default resilience
// policy ([DefaultPolicy], [DefaultRetryBudget]). mws wrap every call, mws[0] outermost,
// inside the client's tracing and metrics.
func (r *Runtime) NewClient(name string, mws ...CallMiddleware) *Client {
	return r.NewClientWith(name, WithCallMiddleware(mws...))
}

// NewClientWith returns a client configured by opts: per-endpoint policies, fallbacks, the
// retry budget, call middleware.
//
// The layers of a call, outermost first: deadline (Invoke), tracing and metrics, the caller's
// middleware, fallback, bulkhead, retries, circuit breaker, one NATS request.
func (r *Runtime) NewClientWith(name string, opts ...ClientOption) *Client {
	c := &Client{rt: r, name: name, cfg: newClientConfig(opts), rm: newResilienceMetrics(r.reg)}
	c.budget = newRetryBudget(c.cfg.budget, time.Now())
	inv := c.send
	if !c.cfg.plain {
		inv = c.resilience(inv)
	}
	for i := len(c.cfg.mws) - 1; i >= 0; i-- {
		inv = c.cfg.mws[i](inv)
	}
	c.invoke = c.observe(inv)
	return c
}

// Name returns the client's name.
func (c *Client) Name() string { return c.name }

// CallOption adjusts one call.
type CallOption func(*Request)

// CallFallback sets the fallback of this call, in place of the endpoint's.
func CallFallback(fn Fallback) CallOption { return func(r *Request) { r.fallback = fn } }

// NoRetry makes this call a single attempt.
func NoRetry() CallOption { return func(r *Request) { r.noRetry = true } }

// Idempotent declares this call safe to repeat although its endpoint is not (for instance
// because it carries an idempotency key the service deduplicates on), so timeouts and
// unavailable errors are retried.
func Idempotent() CallOption { return func(r *Request) { r.Endpoint.Idempotent = true } }

// Call calls ep with req and decodes the reply. The deadline sent to the service is the
// smaller of ctx's deadline and the endpoint's declared timeout. Errors are *contracts.Error:
// errors.Is(err, contracts.ErrNotFound) and errors.As work. A reply produced by a fallback is
// decoded like any other; use CallReply to tell it apart.
func Call[Req, Resp any](ctx context.Context, c *Client, ep contracts.Endpoint[Req, Resp], req Req, opts ...CallOption) (Resp, error) {
	var resp Resp
	r, err := CallReply(ctx, c, ep, req, opts...)
	if err != nil {
		return resp, err
	}
	if err := json.Unmarshal(r.Data, &resp); err != nil { // the subject is only built for the error
		return resp, contracts.ErrInternal.Msg("reply from %s is not valid JSON: %v", ep.Subject(), err)
	}
	return resp, nil
}

// CallReply is Call without decoding, for callers that need the reply's metadata (Degraded).
func CallReply[Req, Resp any](ctx context.Context, c *Client, ep contracts.Endpoint[Req, Resp], req Req, opts ...CallOption) (*Reply, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return nil, contracts.ErrBadRequest.Msg("encoding request: %v", err)
	}
	r := &Request{Endpoint: info(c, ep), Header: make(nats.Header, 3), Data: data}
	for _, o := range opts {
		o(r)
	}
	return c.Invoke(ctx, r)
}

// DecodeReply decodes a reply body; subject names the endpoint in the error.
func DecodeReply[Resp any](subject string, r *Reply) (Resp, error) {
	var resp Resp
	if err := json.Unmarshal(r.Data, &resp); err != nil {
		return resp, contracts.ErrInternal.Msg("reply from %s is not valid JSON: %v", subject, err)
	}
	return resp, nil
}

// Invoke runs an untyped call through the client's middleware.
func (c *Client) Invoke(ctx context.Context, req *Request) (*Reply, error) {
	timeout := req.Endpoint.Timeout
	if timeout <= 0 {
		timeout = contracts.DefaultTimeout
	}
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if req.Header == nil {
		req.Header = nats.Header{}
	}
	return c.invoke(ctx, req)
}

// observe adds the client span and metrics around every call.
func (c *Client) observe(next Invoker) Invoker {
	return func(ctx context.Context, req *Request) (*Reply, error) {
		st := c.stateOf(req)
		req.st = st
		subject := req.Endpoint.Subject
		ctx, span := c.rt.tracer.Start(ctx, st.spanName, clientSpan)
		defer span.End()
		if span.IsRecording() { // attributes cost allocations; skip them when tracing is off
			span.SetAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", subject))
		}
		start := time.Now()
		reply, err := next(ctx, req)
		st.callTime.Observe(time.Since(start).Seconds())
		if err != nil {
			code := contracts.AsError(err).Code
			span.SetStatus(codes.Error, code)
			c.rt.metrics.calls.WithLabelValues(c.name, subject, code).Inc()
			return nil, err
		}
		if reply.Degraded {
			span.SetAttributes(attribute.Bool("moa.degraded", true))
		}
		st.callsOK.Inc()
		return reply, nil
	}
}

// clientSpan is the option of every client span, made once (an option is an allocation).
var clientSpan = trace.WithSpanKind(trace.SpanKindClient)

// send is the innermost invoker: one NATS request.
func (c *Client) send(ctx context.Context, req *Request) (*Reply, error) {
	if d, ok := ctx.Deadline(); ok {
		setTimeout(req.Header, time.Until(d))
	}
	c.rt.prop.Inject(ctx, headerCarrier(req.Header))
	if tok := AuthToken(ctx); tok != "" {
		req.Header.Set(HeaderAuthorization, "Bearer "+tok)
	}
	if max := c.rt.nc.MaxPayload(); int64(len(req.Data)) > max-1024 {
		return nil, contracts.ErrPayloadTooBig.Msg("the request is %d bytes; the server accepts %d", len(req.Data), max)
	}
	msg := &nats.Msg{Subject: req.Endpoint.Subject, Header: req.Header, Data: req.Data}
	resp, err := c.rt.nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		return nil, transportError(req.Endpoint.Subject, err)
	}
	if ce := replyError(resp); ce != nil {
		return nil, ce
	}
	return &Reply{Header: resp.Header, Data: resp.Data, Degraded: resp.Header.Get(HeaderDegraded) == "true"}, nil
}

// transportError tells the transport failures apart, because callers react differently: no
// responders means nobody is serving (fail fast, maybe fall back); a timeout means the outcome
// is unknown.
func transportError(subject string, err error) error {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return contracts.ErrNoResponders.Msg("no instance is serving %s", subject)
	case errors.Is(err, nats.ErrMaxPayload):
		return contracts.ErrPayloadTooBig.Wrap(err)
	case errors.Is(err, context.Canceled):
		return contracts.ErrCanceled.Msg("call to %s canceled", subject)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return contracts.ErrTimeout.Msg("no reply from %s before the deadline", subject)
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining):
		return contracts.ErrUnavailable.Msg("connection closed while calling %s", subject)
	}
	return contracts.ErrUnavailable.Msg("calling %s: %v", subject, err).Wrap(err)
}
