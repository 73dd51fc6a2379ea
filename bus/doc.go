// Package bus is Moa's actor runtime on NATS.
//
// A service is an actor: it answers typed request-reply endpoints (registered through nats.go's
// micro package, so every service answers $SRV.PING/INFO/STATS and shows up in `nats micro ls`)
// and reacts to durable JetStream events. Both kinds of work go through one handler shape,
//
//	type Handler func(ctx context.Context, m *Msg) ([]byte, error)
//
// and one middleware shape, func(Handler) Handler, composed in one place ([Runtime.chain]):
// tracing, metrics, logging, panic recovery, then the caller's own middleware.
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
