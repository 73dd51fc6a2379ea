// Package bus is Moa's actor runtime on NATS.
//
// A service is an actor: it answers typed request-reply endpoints (every service answers the
// NATS service protocol, $SRV.PING/INFO/STATS in the wire format of nats.go's micro package, so
// it shows up in `nats micro ls` with true figures; see [Discovery])
// and reacts to durable JetStream events. Both kinds of work go through one handler shape,
//
//	type Handler func(ctx context.Context, m *Msg) ([]byte, error)
//
// and one middleware shape, func(Handler) Handler, composed in one place (Runtime.chain),
// outermost first:
//
//	tracing → metrics → logging → [WithMiddleware]'s, for every handler → recovery →
//	  endpoints: deadline errors → strict decoding → access check ([Authorize]) → handler
//	  consumers: [WithConsumerMiddleware]'s (the inbox) → handler
//
// Tracing is outermost so that metrics and logs carry the trace; recovery is innermost of the
// runtime's own, so a panic becomes an error that metrics and logs count like any other; the
// access check runs on the decoded request, after its fields were validated.
//
// Contracts for handlers:
//
//   - ctx is per message: it carries the caller's deadline (requests) or the ack deadline
//     (events) and is canceled when the runtime stops. Handlers must return when it is done.
//   - A request handler's []byte is the reply body; its error becomes an error reply with a
//     stable code from contracts (see [contracts.Error]). Errors that are not *contracts.Error
//     are sent as "internal" without their text.
//   - An event handler's []byte is ignored. nil error acks the message; an error naks it with
//     the consumer's backoff; an error marked [Permanent] dead-letters it at once.
//
// Typed wrappers sit on top: [Handle] registers func(ctx, Req) (Resp, error) for a
// contracts.Endpoint, [Call] calls one, [OnEvent] adapts func(ctx, Event[T]) error.
package bus
