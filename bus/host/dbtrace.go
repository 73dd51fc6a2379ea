package host

import (
	"context"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// queryTracer makes a client span for each query a service runs inside a recording span (an
// endpoint's or a consumer's), as pgx's QueryTracer hook: the database time of a request or
// event shows in its trace. A query outside one (the relay's polling, sweepers, migrations)
// gets none, so with tracing off, or in background loops, the hook costs one context lookup.
// Batches and COPY are not traced.
type queryTracer struct {
	tracer trace.Tracer
	db     string // the database's name (db.namespace)
}

func (q queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	op := operation(data.SQL)
	ctx, _ = q.tracer.Start(ctx, op+" "+q.db, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("db.system.name", "postgresql"),
		attribute.String("db.namespace", q.db),
		attribute.String("db.operation.name", op),
		// The statement's text without its values: most of Moa's SQL binds them, but the
		// inbox sends its BEGIN and its key-version statement with quoted literals (one round
		// trip), and event ids and subjects do not belong in a trace backend.
		attribute.String("db.query.text", redactLiterals(data.SQL)),
	))
	return ctx
}

func (q queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if data.Err != nil {
		span.SetStatus(codes.Error, data.Err.Error())
	} else if data.CommandTag.Select() {
		span.SetAttributes(attribute.Int64("db.response.returned_rows", data.CommandTag.RowsAffected()))
	}
	span.End()
}

// operation is the statement's first word, upper case (SELECT, INSERT, WITH, COMMIT...).
func operation(sql string) string {
	sql = strings.TrimSpace(sql)
	if i := strings.IndexAny(sql, " \t\r\n(;"); i > 0 {
		sql = sql[:i]
	}
	if sql == "" {
		return "QUERY"
	}
	return strings.ToUpper(sql)
}

// sqlLiteral is a single-quoted SQL string (a doubled quote stands for a quote inside it).
// Numbers are left: they carry versions and limits, nothing a trace must not hold.
var sqlLiteral = regexp.MustCompile(`'(?:[^']|'')*'`)

// redactLiterals replaces the string literals in sql by ?.
func redactLiterals(sql string) string {
	if !strings.Contains(sql, "'") {
		return sql
	}
	return sqlLiteral.ReplaceAllString(sql, "?")
}
