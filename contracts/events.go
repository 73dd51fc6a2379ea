package contracts

import (
	"encoding/json"
	"time"
)

// Envelope wraps every event on a stream. The envelope is stable across event types so that
// generic tooling (dead letters, replay, projections rebuild) can read any event.
type Envelope struct {
	// ID is unique per event (a UUIDv7 string). It is the JetStream Nats-Msg-Id, so a
	// re-published event is dropped by the stream's duplicate window, and it is the key of the
	// consumers' idempotent inbox.
	ID string `json:"id"`
	// Type is the event type, e.g. "catalog.product_changed".
	Type string `json:"type"`
	// Source is the emitting service.
	Source string `json:"source"`
	// Key is the aggregate the event is about; it is also the last subject token.
	Key string `json:"key"`
	// OccurredAt is when the state change committed at the source.
	OccurredAt time.Time `json:"occurred_at"`
	// SchemaVersion of Data; consumers reject versions they do not know.
	SchemaVersion int `json:"schema_version"`
	// TraceParent and TraceState carry W3C trace context, so a trace survives the outbox.
	TraceParent string `json:"traceparent,omitempty"`
	TraceState  string `json:"tracestate,omitempty"`
	// Data is the event body, typed per event type.
	Data json.RawMessage `json:"data"`
}

// Event declares a typed event: its stream, its type name and the schema version of T.
type Event[T any] struct {
	Stream  StreamSpec
	Domain  string // second subject token, e.g. "catalog"
	Name    string // third subject token, e.g. "product_changed"
	Version int
}

// Type is the envelope type string, "<domain>.<name>".
func (e Event[T]) Type() string { return e.Domain + "." + e.Name }

// Subject is the subject for an event with the given key; key must have passed [Token].
func (e Event[T]) Subject(key string) string { return Join("evt", e.Domain, e.Name, key) }

// Filter is the subject filter matching every event of this type.
func (e Event[T]) Filter() string { return Join("evt", e.Domain, e.Name, "*") }

// EventInfo is the untyped view of an event declaration.
type EventInfo struct {
	Stream  string
	Type    string
	Subject string // filter
	Version int
	Data    any
}

// Info returns the untyped description of e.
func (e Event[T]) Info() EventInfo {
	var t T
	return EventInfo{Stream: e.Stream.Name, Type: e.Type(), Subject: e.Filter(), Version: e.Version, Data: t}
}
