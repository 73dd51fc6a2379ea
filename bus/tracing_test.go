package bus_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// trRuntime is a runtime on its own connection with its own tracer provider and span
// recorder. Caller and handler get separate ones in these tests, so the only way a trace can
// continue from one to the other is through the message headers, as between two processes.
func trRuntime(t *testing.T, url string) (*bus.Runtime, *sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return newRuntime(t, url, bus.WithTracerProvider(tp)), tp, rec
}

var (
	trSvc = contracts.Service{Name: "tracetest", Version: "1.0.0", Major: 1}
	trEp  = contracts.Endpoint[contracts.Empty, contracts.Empty]{Service: trSvc, Name: "ping", Timeout: 5 * time.Second}
)

// trEndedSpan returns the one ended span of rec with the given kind, failing if there is not
// exactly one.
func trEndedSpan(t *testing.T, rec *tracetest.SpanRecorder, kind trace.SpanKind) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanKind() == kind {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d ended %s spans, want 1", len(found), kind)
	}
	return found[0]
}

func TestTraceContinuesFromCallerToHandler(t *testing.T) {
	url := startNATS(t)
	server, _, serverSpans := trRuntime(t, url)
	caller, callerTP, callerSpans := trRuntime(t, url)

	seen := make(chan trace.SpanContext, 1)
	svc, err := server.AddService(trSvc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Handle(svc, trEp, func(ctx context.Context, _ contracts.Empty) (contracts.Empty, error) {
		seen <- trace.SpanContextFromContext(ctx)
		return contracts.Empty{}, nil
	}); err != nil {
		t.Fatal(err)
	}

	ctx, root := callerTP.Tracer("test").Start(context.Background(), "checkout")
	if _, err := bus.Call(ctx, caller.Client(), trEp, contracts.Empty{}); err != nil {
		t.Fatal(err)
	}
	root.End()
	inHandler := <-seen

	client := trEndedSpan(t, callerSpans, trace.SpanKindClient)
	if client.Parent().SpanID() != root.SpanContext().SpanID() {
		t.Errorf("client span's parent is %s, want the caller's span %s", client.Parent().SpanID(), root.SpanContext().SpanID())
	}
	eventually(t, 5*time.Second, func() bool { return len(serverSpans.Ended()) > 0 }, "the server span to end")
	srv := trEndedSpan(t, serverSpans, trace.SpanKindServer)
	traceID := root.SpanContext().TraceID()
	if srv.SpanContext().TraceID() != traceID {
		t.Fatalf("server span is in trace %s, the caller in %s: the trace did not cross the wire", srv.SpanContext().TraceID(), traceID)
	}
	if srv.Parent().SpanID() != client.SpanContext().SpanID() || !srv.Parent().IsRemote() {
		t.Errorf("server span's parent is %s (remote %v), want the remote client span %s",
			srv.Parent().SpanID(), srv.Parent().IsRemote(), client.SpanContext().SpanID())
	}
	if inHandler.TraceID() != traceID || inHandler.SpanID() != srv.SpanContext().SpanID() {
		t.Errorf("the handler's context carries span %s/%s, want the server span %s/%s",
			inHandler.TraceID(), inHandler.SpanID(), traceID, srv.SpanContext().SpanID())
	}
}

func TestUntracedCallStartsANewTraceInTheHandler(t *testing.T) {
	url := startNATS(t)
	server, _, serverSpans := trRuntime(t, url)
	caller := newRuntime(t, url) // the global no-op provider: sends no trace context
	svc, err := server.AddService(trSvc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Handle(svc, trEp, func(ctx context.Context, _ contracts.Empty) (contracts.Empty, error) {
		return contracts.Empty{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Call(context.Background(), caller.Client(), trEp, contracts.Empty{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool { return len(serverSpans.Ended()) > 0 }, "the server span to end")
	srv := trEndedSpan(t, serverSpans, trace.SpanKindServer)
	if !srv.SpanContext().TraceID().IsValid() || srv.Parent().IsValid() {
		t.Fatalf("server span %s has parent %s, want a new root", srv.SpanContext().TraceID(), srv.Parent().SpanID())
	}
}

func TestTraceContinuesFromEmitToConsumer(t *testing.T) {
	url := startNATS(t)
	producer, producerTP, _ := trRuntime(t, url)
	consumer, _, consumerSpans := trRuntime(t, url)
	ctx := context.Background()
	if err := producer.EnsureStreams(ctx, evStream, contracts.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}

	seen := make(chan trace.SpanContext, 1)
	_, err := consumer.Consume(ctx, "shipping", contracts.ConsumerSpec{Stream: evStream, Durable: "traced",
		FilterSubjects: []string{evPlaced.Filter()}},
		bus.OnEvent(evPlaced, func(ctx context.Context, e bus.Event[evOrderPlaced]) error {
			seen <- trace.SpanContextFromContext(ctx)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}

	tctx, root := producerTP.Tracer("test").Start(ctx, "place order")
	env, err := bus.Emit(tctx, producer, "orders", evPlaced, "o1", evOrderPlaced{OrderID: "o1"})
	root.End()
	if err != nil {
		t.Fatal(err)
	}
	if env.TraceParent == "" {
		t.Fatal("the envelope carries no traceparent, so an outbox relay could not continue the trace")
	}

	var inHandler trace.SpanContext
	select {
	case inHandler = <-seen:
	case <-time.After(10 * time.Second):
		t.Fatal("the event never reached the consumer")
	}
	traceID := root.SpanContext().TraceID()
	if inHandler.TraceID() != traceID {
		t.Fatalf("consumer handler is in trace %s, the emitter in %s", inHandler.TraceID(), traceID)
	}
	eventually(t, 5*time.Second, func() bool { return len(consumerSpans.Ended()) > 0 }, "the consumer span to end")
	span := trEndedSpan(t, consumerSpans, trace.SpanKindConsumer)
	if span.SpanContext().SpanID() != inHandler.SpanID() {
		t.Errorf("the handler's context is not the consumer span")
	}
	if span.Parent().SpanID() != root.SpanContext().SpanID() || !span.Parent().IsRemote() {
		t.Errorf("consumer span's parent is %s, want the emitting span %s", span.Parent().SpanID(), root.SpanContext().SpanID())
	}
}

// A redelivered event's consumer span says which delivery it is (moa.deliveries), so that a
// saga's timeline can show the retry.
func TestConsumerSpanCarriesItsDeliveryCount(t *testing.T) {
	url := startNATS(t)
	consumer, _, consumerSpans := trRuntime(t, url)
	ctx := context.Background()
	if err := consumer.EnsureStreams(ctx, evStream, contracts.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	_, err := consumer.Consume(ctx, "shipping", contracts.ConsumerSpec{Stream: evStream, Durable: "redelivered",
		FilterSubjects: []string{evPlaced.Filter()}, MaxDeliver: 5, Backoff: []time.Duration{20 * time.Millisecond}},
		bus.OnEvent(evPlaced, func(ctx context.Context, e bus.Event[evOrderPlaced]) error {
			if calls.Add(1) == 1 {
				return contracts.ErrUnavailable.Msg("not yet")
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Emit(ctx, consumer, "orders", evPlaced, "o2", evOrderPlaced{OrderID: "o2"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool { return len(consumerSpans.Ended()) >= 2 }, "two deliveries")
	var got []string
	for _, s := range consumerSpans.Ended() {
		if s.SpanKind() != trace.SpanKindConsumer {
			continue
		}
		for _, kv := range s.Attributes() {
			if kv.Key == "moa.deliveries" {
				got = append(got, fmt.Sprint(kv.Value.AsInt64(), " ", s.Status().Code))
			}
		}
	}
	if fmt.Sprint(got) != "[1 Error 2 Unset]" {
		t.Errorf("deliveries and statuses of the consumer spans: %v, want [1 Error 2 Unset]", got)
	}
}
