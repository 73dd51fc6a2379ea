package bus

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/moa-run/moa/contracts"
)

// Recover turns a handler panic into contracts.ErrPanic (an error reply for requests, a nak for
// events) and counts it, so one bad message never takes the service down. The stack goes to
// the error's local cause, which the logging middleware prints; callers only see the code.
func Recover(m *metrics) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Msg) (out []byte, err error) {
			defer func() {
				if p := recover(); p != nil {
					m.panics.WithLabelValues(msg.Service, msg.Kind.String(), msg.Name).Inc()
					err = contracts.ErrPanic.Wrap(fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
					out = nil
				}
			}()
			return next(ctx, msg)
		}
	}
}

// Logging logs successful messages at DEBUG, requests refused for the caller's mistake
// (rejected) at INFO, other failures at WARN and internal errors at ERROR, with the trace id so
// a log line leads to its trace.
func Logging(log *slog.Logger) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Msg) ([]byte, error) {
			start := time.Now()
			out, err := next(ctx, msg)
			if err == nil && !log.Enabled(ctx, slog.LevelDebug) {
				return out, nil // the common case pays for no attributes
			}
			attrs := []slog.Attr{
				slog.String("service", msg.Service), slog.String("kind", msg.Kind.String()),
				slog.String("name", msg.Name), slog.String("subject", msg.Subject),
				slog.Duration("took", time.Since(start)),
			}
			if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
				attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
			}
			if msg.Kind == KindEvent {
				attrs = append(attrs, slog.Uint64("seq", msg.Sequence), slog.Uint64("deliveries", msg.Deliveries))
			}
			if err == nil {
				log.LogAttrs(ctx, slog.LevelDebug, "handled", attrs...)
				return out, nil
			}
			ce := contracts.AsError(err)
			attrs = append(attrs, slog.String("code", ce.Code), slog.String("error", err.Error()))
			if cause := ce.Unwrap(); cause != nil {
				attrs = append(attrs, slog.String("cause", cause.Error()))
			}
			level, what := slog.LevelWarn, "handler failed"
			switch {
			case isNotYet(err):
				level = slog.LevelDebug // an event that waits its turn, see NotYet
			case rejected(msg, ce):
				// The caller's mistake, answered as designed: worth a line when looking for it,
				// not a warning an operator must act on (moa_handled_total counts them).
				level, what = slog.LevelInfo, "request rejected"
			case ce.Kind == contracts.KindInternal:
				level = slog.LevelError
			}
			log.LogAttrs(ctx, level, what, attrs...)
			return out, err
		}
	}
}

// Metrics counts messages and errors and observes latency per endpoint or consumer. The
// series of one endpoint are looked up once and kept, not hashed on every message.
func Metrics(m *metrics) Middleware {
	type key struct{ service, kind, name string }
	type series struct {
		latency           prometheus.Observer
		ok, bad, rejected prometheus.Counter
	}
	var cache sync.Map // key -> *series
	return func(next Handler) Handler {
		// One wrapped handler serves one endpoint or consumer: remember its series, so the
		// common case neither hashes the key nor boxes it for the map.
		type entry struct {
			key
			*series
		}
		var last atomic.Pointer[entry]
		return func(ctx context.Context, msg *Msg) ([]byte, error) {
			start := time.Now()
			out, err := next(ctx, msg)
			kind := msg.Kind.String()
			var ser *series
			if l := last.Load(); l != nil && l.service == msg.Service && l.kind == kind && l.name == msg.Name {
				ser = l.series
			} else {
				k := key{msg.Service, kind, msg.Name}
				v, found := cache.Load(k)
				if !found {
					v, _ = cache.LoadOrStore(k, &series{
						latency:  m.latency.WithLabelValues(msg.Service, kind, msg.Name),
						ok:       m.handled.WithLabelValues(msg.Service, kind, msg.Name, "ok"),
						bad:      m.handled.WithLabelValues(msg.Service, kind, msg.Name, "error"),
						rejected: m.handled.WithLabelValues(msg.Service, kind, msg.Name, "rejected"),
					})
				}
				ser = v.(*series)
				last.Store(&entry{k, ser})
			}
			ser.latency.Observe(time.Since(start).Seconds())
			if err != nil && isNotYet(err) {
				return out, err // waiting for its turn is not a failure, see NotYet
			}
			if err == nil {
				ser.ok.Inc()
				return out, err
			}
			ce := contracts.AsError(err)
			if rejected(msg, ce) {
				ser.rejected.Inc()
			} else {
				ser.bad.Inc()
			}
			m.errors.WithLabelValues(msg.Service, kind, msg.Name, ce.Code).Inc()
			return out, err
		}
	}
}

// Tracing continues the trace whose context the message carries in its headers (W3C
// traceparent), in a server span (requests) or consumer span (events).
func Tracing(tracer trace.Tracer, prop propagation.TextMapPropagator) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Msg) ([]byte, error) {
			ctx = prop.Extract(ctx, headerCarrier(msg.Header))
			kind := serverSpan
			if msg.Kind == KindEvent {
				kind = consumerSpan
			}
			name := msg.spanName
			if name == "" {
				name = msg.Service + " " + msg.Name
			}
			ctx, span := tracer.Start(ctx, name, kind)
			defer span.End()
			if span.IsRecording() { // attributes cost allocations; skip them when tracing is off
				span.SetAttributes(
					attribute.String("messaging.system", "nats"),
					attribute.String("messaging.destination.name", msg.Subject),
				)
				if msg.Deliveries > 0 {
					// A count above 1 is a redelivery: the saga timeline shows it as a retry.
					span.SetAttributes(attribute.Int64("moa.deliveries", int64(msg.Deliveries)))
				}
			}
			out, err := next(ctx, msg)
			if err != nil {
				ce := contracts.AsError(err)
				span.SetStatus(codes.Error, ce.Code)
				span.SetAttributes(attribute.String("moa.error.code", ce.Code))
			}
			return out, err
		}
	}
}

// The span kind options, made once (an option is an allocation).
var (
	serverSpan   = trace.WithSpanKind(trace.SpanKindServer)
	consumerSpan = trace.WithSpanKind(trace.SpanKindConsumer)
)

// headerCarrier adapts nats.Header to the OpenTelemetry TextMapCarrier.
type headerCarrier map[string][]string

func (c headerCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	// W3C names are lower case, and NATS headers are case-sensitive: also try canonical.
	for k, v := range c {
		if len(v) > 0 && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

func (c headerCarrier) Set(key, value string) { c[key] = []string{value} }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Authorize enforces an endpoint's declared access (contracts.Access) on requests: a request
// without a token is refused with unauthenticated unless the endpoint admits anonymous or
// internal callers; a token is verified with v (its errors pass through: unauthenticated,
// token_expired, token_invalid, unavailable) and a role the endpoint does not admit is
// refused with forbidden. The verified principal goes on the context ([Caller]). An endpoint
// that admits no role never looks at tokens. [Handle] applies the same check after decoding
// the request, so that a malformed request is reported as such even without a token.
func Authorize(a contracts.Access, v TokenVerifier) Middleware {
	check := authorizer(a, v)
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Msg) ([]byte, error) {
			ctx, err := check(ctx, msg.Subject)
			if err != nil {
				return nil, err
			}
			return next(ctx, msg)
		}
	}
}

// authorizer is Authorize's check; for an access that admits no role it lets everything through.
func authorizer(a contracts.Access, v TokenVerifier) func(ctx context.Context, subject string) (context.Context, error) {
	if a.Roles() == 0 {
		return func(ctx context.Context, _ string) (context.Context, error) { return ctx, nil }
	}
	return func(ctx context.Context, subject string) (context.Context, error) {
		tok := AuthToken(ctx)
		if tok == "" {
			if a.NoToken() {
				return ctx, nil
			}
			return ctx, contracts.ErrUnauthenticated.Msg("this call needs an access token")
		}
		if v == nil { // a service without a verifier serves only callers without a token
			return ctx, contracts.ErrUnavailable.Msg("%s cannot verify access tokens", subject)
		}
		p, err := v.Verify(ctx, tok)
		if err != nil {
			return ctx, err
		}
		if !a.AdmitsRole(p.Role) {
			return ctx, contracts.ErrForbidden.Msg("role %q may not call %s (it is for %s)", p.Role, subject, a)
		}
		return WithCaller(ctx, p), nil
	}
}

// rejected reports a request refused for the caller's own mistake: malformed or invalid input,
// missing or bad credentials, no permission, nothing of that id, a state that does not allow
// it. The service worked as designed; the server's own faults (unavailable, timeout, internal)
// and any failed event (a producer's bug, or one the consumer could not handle) are not.
func rejected(msg *Msg, ce *contracts.Error) bool {
	if msg.Kind != KindRequest {
		return false
	}
	switch ce.Kind {
	case contracts.KindInvalid, contracts.KindUnauthenticated, contracts.KindForbidden, contracts.KindNotFound, contracts.KindConflict:
		return true
	}
	return false
}
