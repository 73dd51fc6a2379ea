package host

import (
	"context"
	"sync"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// mongoTracer makes a client span for each MongoDB command a service runs inside a recording
// span (an endpoint's or a consumer's), as the driver's command monitor: the document store's
// time shows in a request's or event's trace, as PostgreSQL's does (queryTracer). There is no
// maintained OpenTelemetry instrumentation for mongo-driver v2 on the module proxy here (the
// contrib otelmongo is for v1), and the monitor is a dozen lines. The driver builds an event
// for every command once a monitor is set, so none is set when the runtime's tracer is a no-op
// (moa dev and moa serve without OTEL_* configuration).
type mongoTracer struct {
	tracer trace.Tracer
	spans  sync.Map // mongoCommand -> trace.Span, from Started to Succeeded or Failed
}

type mongoCommand struct {
	conn string
	id   int64
}

// mongoMonitor returns the command monitor for tracer, or nil when tracer records nothing.
func mongoMonitor(tracer trace.Tracer) *event.CommandMonitor {
	if _, off := tracer.(noop.Tracer); off || tracer == nil {
		return nil
	}
	m := &mongoTracer{tracer: tracer}
	return &event.CommandMonitor{Started: m.started, Succeeded: m.succeeded, Failed: m.failed}
}

func (m *mongoTracer) started(ctx context.Context, e *event.CommandStartedEvent) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{
		attribute.String("db.system.name", "mongodb"),
		attribute.String("db.namespace", e.DatabaseName),
		attribute.String("db.operation.name", e.CommandName),
	}
	name := e.CommandName
	// A command's first element names its collection ({"find": "messages", ...}).
	if first, err := e.Command.IndexErr(0); err == nil {
		if coll, ok := first.Value().StringValueOK(); ok {
			attrs = append(attrs, attribute.String("db.collection.name", coll))
			name += " " + coll
		}
	}
	_, span := m.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	m.spans.Store(mongoCommand{e.ConnectionID, e.RequestID}, span)
}

func (m *mongoTracer) succeeded(_ context.Context, e *event.CommandSucceededEvent) {
	if s, ok := m.spans.LoadAndDelete(mongoCommand{e.ConnectionID, e.RequestID}); ok {
		s.(trace.Span).End()
	}
}

func (m *mongoTracer) failed(_ context.Context, e *event.CommandFailedEvent) {
	if s, ok := m.spans.LoadAndDelete(mongoCommand{e.ConnectionID, e.RequestID}); ok {
		span := s.(trace.Span)
		if e.Failure != nil {
			span.SetStatus(codes.Error, e.Failure.Error())
		}
		span.End()
	}
}
