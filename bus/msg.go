package bus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Kind tells a handler (and middleware) what kind of message it is looking at.
type Kind int

const (
	// KindRequest is a request-reply call; the handler's result is the reply.
	KindRequest Kind = iota
	// KindEvent is a JetStream message; the handler's error decides ack, nak or dead letter.
	KindEvent
)

func (k Kind) String() string {
	if k == KindEvent {
		return "event"
	}
	return "request"
}

// Msg is one message handed to a handler: a request or an event.
type Msg struct {
	Kind    Kind
	Service string // the owning service
	Name    string // endpoint name (requests) or durable consumer name (events)
	Subject string
	Header  nats.Header
	Data    []byte

	// Event metadata; zero for requests.
	Stream     string
	Sequence   uint64 // stream sequence
	Deliveries uint64 // 1 on first delivery

	js jetstream.Msg
	// spanName is "<service> <name>", made once per endpoint; Tracing builds it when empty.
	spanName string
}

// InProgress tells the server that an event is still being worked on, resetting its ack
// deadline. The runtime calls it for long handlers on its own; handlers may call it too.
// It is a no-op for requests.
func (m *Msg) InProgress() error {
	if m.js == nil {
		return nil
	}
	return m.js.InProgress()
}

// Handler handles one message. See the package documentation for the contract.
type Handler func(ctx context.Context, m *Msg) ([]byte, error)

// Middleware wraps a Handler. Every cross-cutting concern in Moa has this one shape.
type Middleware func(Handler) Handler

// Chain wraps h so that mws[0] is the outermost middleware.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// permanent marks an error that must not be retried.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err so that an event handler's failure dead-letters the message at once
// instead of redelivering it. contracts errors of kind invalid are permanent on their own.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// deadlineOf returns the remaining time of ctx, or def when ctx has no deadline.
func deadlineOf(ctx context.Context, def time.Duration) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return def
}
