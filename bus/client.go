package bus

import (
	"context"
	"encoding/json"
	"errors"
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

// Client makes typed calls. Each client has a name (the calling service) used in metrics.
type Client struct {
	rt     *Runtime
	name   string
	invoke Invoker
}

// NewClient returns a client named after the calling service. mws wrap every call, mws[0]
// outermost, inside the client's tracing and metrics.
func (r *Runtime) NewClient(name string, mws ...CallMiddleware) *Client {
	c := &Client{rt: r, name: name}
	inv := c.send
	for i := len(mws) - 1; i >= 0; i-- {
		inv = mws[i](inv)
	}
	c.invoke = c.observe(inv)
	return c
}

// Call calls ep with req and decodes the reply. The deadline sent to the service is the
// smaller of ctx's deadline and the endpoint's declared timeout. Errors are *contracts.Error:
// errors.Is(err, contracts.ErrNotFound) and errors.As work.
func Call[Req, Resp any](ctx context.Context, c *Client, ep contracts.Endpoint[Req, Resp], req Req) (Resp, error) {
	var resp Resp
	r, err := CallReply(ctx, c, ep, req)
	if err != nil {
		return resp, err
	}
	if err := json.Unmarshal(r.Data, &resp); err != nil {
		return resp, contracts.ErrInternal.Msg("reply from %s is not valid JSON: %v", ep.Subject(), err)
	}
	return resp, nil
}

// CallReply is Call without decoding, for callers that need the reply's metadata (Degraded).
func CallReply[Req, Resp any](ctx context.Context, c *Client, ep contracts.Endpoint[Req, Resp], req Req) (*Reply, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return nil, contracts.ErrBadRequest.Msg("encoding request: %v", err)
	}
	return c.Invoke(ctx, &Request{Endpoint: ep.Info(), Header: nats.Header{}, Data: data})
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
		subject := req.Endpoint.Subject
		ctx, span := c.rt.tracer.Start(ctx, "call "+subject, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", subject)))
		defer span.End()
		start := time.Now()
		reply, err := next(ctx, req)
		c.rt.metrics.callTime.WithLabelValues(c.name, subject).Observe(time.Since(start).Seconds())
		code := "ok"
		if err != nil {
			code = contracts.AsError(err).Code
			span.SetStatus(codes.Error, code)
		}
		c.rt.metrics.calls.WithLabelValues(c.name, subject, code).Inc()
		return reply, err
	}
}

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
