package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// The relay's publish is a hop of the trace: its producer span is the child of the span that
// wrote the row and the parent of the consumer's span. A row written outside any trace gets
// no hop span and starts no trace in the relay.
func TestRelayHopIsASpanBetweenWriterAndConsumer(t *testing.T) {
	pool := newPool(t, moatest.Postgres(t))
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	rt, err := bus.New(moatest.NATS(t).Conn(t), bus.WithLogger(quietLogger()), bus.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background(), false) })
	if err := rt.EnsureStreams(ctxT(t, 30*time.Second), testStream, contracts.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}
	emit := func(ctx context.Context, n int) {
		t.Helper()
		if err := Transact(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
			_, err := Emit(ctx, tx, "test", evHappened, "k", happened{N: n})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	wctx, writer := tp.Tracer("test").Start(ctxT(t, 30*time.Second), "write")
	emit(wctx, 1)
	writer.End()
	emit(ctxT(t, 30*time.Second), 2) // untraced

	got := make(chan trace.SpanContext, 2)
	if _, err := rt.Consume(ctxT(t, 10*time.Second), "test", contracts.ConsumerSpec{Stream: testStream, Durable: "traced"},
		bus.OnEvent(evHappened, func(ctx context.Context, e bus.Event[happened]) error {
			got <- trace.SpanContextFromContext(ctx)
			return nil
		})); err != nil {
		t.Fatal(err)
	}
	startRelay(t, pool, rt, RelayOptions{})
	byKind := func(kind trace.SpanKind) []sdktrace.ReadOnlySpan {
		var out []sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			if s.SpanKind() == kind {
				out = append(out, s)
			}
		}
		return out
	}
	moatest.Eventually(t, 30*time.Second, func() bool { return len(byKind(trace.SpanKindConsumer)) == 2 }, "both events consumed")

	hops := byKind(trace.SpanKindProducer)
	if len(hops) != 1 {
		t.Fatalf("%d relay spans, want 1 (the untraced row gets none)", len(hops))
	}
	hop := hops[0]
	if hop.Name() != "outbox publish otest.happened" || hop.Parent().SpanID() != writer.SpanContext().SpanID() ||
		hop.SpanContext().TraceID() != writer.SpanContext().TraceID() {
		t.Errorf("relay span %q, parent %s in trace %s: want the writer's child %s in %s",
			hop.Name(), hop.Parent().SpanID(), hop.SpanContext().TraceID(), writer.SpanContext().SpanID(), writer.SpanContext().TraceID())
	}
	var traced, untraced int
	for _, c := range byKind(trace.SpanKindConsumer) {
		switch c.Parent().SpanID() {
		case hop.SpanContext().SpanID():
			traced++
		case trace.SpanID{}:
			untraced++ // the untraced row's consumer starts a trace of its own
		default:
			t.Errorf("consumer span with parent %s: want the relay's span or none", c.Parent().SpanID())
		}
	}
	if traced != 1 || untraced != 1 {
		t.Errorf("%d consumer spans under the relay's, %d roots: want 1 and 1", traced, untraced)
	}
}
