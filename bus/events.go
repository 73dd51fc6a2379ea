package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"

	"github.com/moa-run/moa/contracts"
)

// HeaderEventType carries the envelope type so that tools can filter without decoding.
const HeaderEventType = "Moa-Event-Type"

// NewEnvelope builds the envelope for one event of type ev about key, with a fresh UUIDv7 id
// and the trace context of ctx (written by prop; nil means W3C trace context). It returns the subject to publish it on. key must be a safe
// subject token: it is checked here.
func NewEnvelope[T any](ctx context.Context, prop propagation.TextMapPropagator, source string, ev contracts.Event[T], key string, data T) (contracts.Envelope, string, error) {
	if _, err := contracts.Token("key", key); err != nil {
		return contracts.Envelope{}, "", err
	}
	body, err := json.Marshal(data)
	if err != nil {
		return contracts.Envelope{}, "", fmt.Errorf("bus: encoding %s: %w", ev.Type(), err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return contracts.Envelope{}, "", err
	}
	env := contracts.Envelope{
		ID: id.String(), Type: ev.Type(), Source: source, Key: key,
		OccurredAt: time.Now().UTC(), SchemaVersion: ev.Version, Data: body,
	}
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	carrier := propagation.MapCarrier{}
	prop.Inject(ctx, carrier)
	env.TraceParent, env.TraceState = carrier["traceparent"], carrier["tracestate"]
	return env, ev.Subject(key), nil
}

// Emit publishes one event directly (not through an outbox) and waits for the stream's ack.
// Use the outbox when the event must be atomic with a database change.
func Emit[T any](ctx context.Context, r *Runtime, source string, ev contracts.Event[T], key string, data T) (contracts.Envelope, error) {
	env, subject, err := NewEnvelope(ctx, r.prop, source, ev, key, data)
	if err != nil {
		return env, err
	}
	_, err = r.Publish(ctx, subject, env)
	return env, err
}

// Publish publishes env on subject with Nats-Msg-Id = env.ID (so the stream drops a re-publish
// inside its duplicate window) and waits for the PubAck. A nil error means the stream stored
// the event; PubAck.Duplicate tells that it had it already.
func (r *Runtime) Publish(ctx context.Context, subject string, env contracts.Envelope) (*jetstream.PubAck, error) {
	msg, err := EnvelopeMsg(subject, env)
	if err != nil {
		return nil, err
	}
	ack, err := r.js.PublishMsg(ctx, msg)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			return nil, contracts.ErrUnavailable.Msg("no stream stored %s: %v", subject, err).Wrap(err)
		}
		return nil, contracts.ErrUnavailable.Msg("publishing %s: %v", subject, err).Wrap(err)
	}
	return ack, nil
}

// EnvelopeMsg is the wire form of an envelope: JSON body, id and type in headers, trace context
// in W3C headers.
func EnvelopeMsg(subject string, env contracts.Envelope) (*nats.Msg, error) {
	body, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	msg := nats.NewMsg(subject)
	msg.Data = body
	msg.Header.Set(jetstream.MsgIDHeader, env.ID)
	msg.Header.Set(HeaderEventType, env.Type)
	if env.TraceParent != "" {
		msg.Header.Set("traceparent", env.TraceParent)
	}
	if env.TraceState != "" {
		msg.Header.Set("tracestate", env.TraceState)
	}
	return msg, nil
}

// Event is a decoded event handed to a typed event handler.
type Event[T any] struct {
	contracts.Envelope
	// Data is the decoded body. It shadows Envelope.Data (the raw body), which the one-pass
	// decode leaves empty.
	Data T    `json:"data"`
	Msg  *Msg `json:"-"`
}

// OnEvent adapts a typed event handler to Handler. A body that does not decode, or a schema
// version newer than ev declares, is a permanent failure: redelivering it cannot help.
func OnEvent[T any](ev contracts.Event[T], fn func(ctx context.Context, e Event[T]) error) Handler {
	return func(ctx context.Context, m *Msg) ([]byte, error) {
		e, err := DecodeEvent(ev, m)
		if err != nil {
			return nil, err
		}
		return nil, fn(ctx, e)
	}
}

// DecodeEvent decodes m as an event of type ev.
func DecodeEvent[T any](ev contracts.Event[T], m *Msg) (Event[T], error) {
	// One pass over the body decodes the envelope and the typed data together; the checks
	// follow. Only when that fails does the slower two-step decode run, to say precisely what
	// is wrong (the envelope, its type or version, or the data).
	var e Event[T]
	if err := json.Unmarshal(m.Data, &e); err != nil {
		return decodeEventSlow(ev, m)
	}
	if err := checkEnvelope(ev, &e.Envelope); err != nil {
		return e, err
	}
	e.Msg = m
	return e, nil
}

func decodeEventSlow[T any](ev contracts.Event[T], m *Msg) (Event[T], error) {
	var e Event[T]
	if err := json.Unmarshal(m.Data, &e.Envelope); err != nil {
		return e, Permanent(contracts.ErrBadRequest.Msg("event on %s is not a valid envelope: %v", m.Subject, err))
	}
	if err := checkEnvelope(ev, &e.Envelope); err != nil {
		return e, err
	}
	if err := json.Unmarshal(e.Envelope.Data, &e.Data); err != nil {
		return e, Permanent(contracts.ErrBadRequest.Msg("%s data: %v", e.Type, err))
	}
	e.Msg = m
	return e, nil
}

func checkEnvelope[T any](ev contracts.Event[T], env *contracts.Envelope) error {
	if env.Type != ev.Type() {
		return Permanent(contracts.ErrBadRequest.Msg("event type %q where %q was expected", env.Type, ev.Type()))
	}
	if env.SchemaVersion > ev.Version {
		return Permanent(contracts.ErrBadRequest.Msg("%s schema version %d is newer than this consumer's %d", env.Type, env.SchemaVersion, ev.Version))
	}
	return nil
}

// EventMux routes events of several types, received by one consumer, to their handlers by the
// envelope type header. Events of types it does not know are acked and skipped, so producers
// can add event types without breaking older consumers.
type EventMux struct {
	routes map[string]Handler
}

// NewEventMux returns an empty mux.
func NewEventMux() *EventMux { return &EventMux{routes: map[string]Handler{}} }

// On adds a typed route to mux and returns mux.
func On[T any](mux *EventMux, ev contracts.Event[T], fn func(ctx context.Context, e Event[T]) error) *EventMux {
	mux.routes[ev.Type()] = OnEvent(ev, fn)
	return mux
}

// Handler returns the mux as a Handler.
func (mux *EventMux) Handler() Handler {
	return func(ctx context.Context, m *Msg) ([]byte, error) {
		typ := m.Header.Get(HeaderEventType)
		if typ == "" {
			var env struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(m.Data, &env)
			typ = env.Type
		}
		if h, ok := mux.routes[typ]; ok {
			return h(ctx, m)
		}
		return nil, nil
	}
}
