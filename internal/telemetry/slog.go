package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// LogHandler wraps h so that a record logged with a context whose span is recording carries
// that span's trace_id and span_id (as hex, the form trace viewers search by). Records
// without such a context pass through unchanged, so with tracing off nothing is added.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(traceHandler); ok {
		return h
	}
	return traceHandler{h}
}

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			sc := span.SpanContext()
			hasTrace := false // bus.Logging writes trace_id itself
			r.Attrs(func(a slog.Attr) bool {
				hasTrace = a.Key == "trace_id"
				return !hasTrace
			})
			r = r.Clone() // the caller's record may be shared with other handlers
			if !hasTrace {
				r.AddAttrs(slog.String("trace_id", sc.TraceID().String()))
			}
			r.AddAttrs(slog.String("span_id", sc.SpanID().String()))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
