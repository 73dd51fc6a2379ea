package telemetry_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/moa-run/moa/internal/telemetry"
)

// recording is a Traces that only records, as moa dev without OTEL_* has it.
func recording(t *testing.T, max int) (*telemetry.Traces, *telemetry.Recorder) {
	t.Helper()
	rec := telemetry.NewRecorder(max)
	tr, err := telemetry.Setup(context.Background(), telemetry.Config{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() || !tr.Recording() {
		t.Fatalf("enabled %v recording %v: want recording without export", tr.Enabled(), tr.Recording())
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, rec
}

// Without an OTLP endpoint, a recorder still gets every span, and keeps only the newest
// traces: the oldest is dropped whole.
func TestRecorderKeepsTheNewestTraces(t *testing.T) {
	tr, rec := recording(t, 3)
	tracer := tr.Provider("catalog").Tracer("test")
	for i := range 5 {
		ctx, root := tracer.Start(context.Background(), fmt.Sprint("root ", i), trace.WithSpanKind(trace.SpanKindServer))
		_, child := tracer.Start(ctx, "child")
		child.End()
		root.End()
	}
	got := rec.Recent(0)
	if len(got) != 3 {
		t.Fatalf("%d traces recorded: want the last 3", len(got))
	}
	for i, want := range []string{"root 4", "root 3", "root 2"} {
		if got[i].Root != want || got[i].Spans != 2 || got[i].Service != "catalog" {
			t.Errorf("trace %d: %+v: want root %q of catalog with 2 spans", i, got[i], want)
		}
	}
	if len(rec.Recent(1)) != 1 {
		t.Errorf("Recent(1) gave %d", len(rec.Recent(1)))
	}
	if spans := rec.Trace(got[0].TraceID); len(spans) != 2 || spans[0].Name != "root 4" || spans[1].ParentID != spans[0].SpanID {
		t.Errorf("trace spans %+v", spans)
	}
	if rec.Trace("nope") != nil {
		t.Errorf("an unknown trace has spans")
	}
	// The setting-less providers sample parent-based: a caller that says "not sampled" wins.
	unsampled := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, Remote: true}))
	_, s := tracer.Start(unsampled, "not sampled")
	s.End()
	if rec.Recent(1)[0].Root == "not sampled" {
		t.Errorf("an unsampled span was recorded")
	}
}

// A saga over two traces (the request, and a consumer started later) is found by its key and
// laid out in order: database calls counted in their step, a redelivered consumer a retry,
// the payment_failed path a compensation.
func TestSagaTimeline(t *testing.T) {
	tr, rec := recording(t, 10)
	const key = "0190a6f0-0000-7000-8000-000000000001"
	tracer := func(svc string) trace.Tracer { return tr.Provider(svc).Tracer("test") }
	subj := func(domain, name string) attribute.KeyValue {
		return attribute.String("messaging.destination.name", "evt."+domain+"."+name+"."+key)
	}
	t0 := time.Now()
	at := func(ms int) trace.SpanStartEventOption {
		return trace.WithTimestamp(t0.Add(time.Duration(ms) * time.Millisecond))
	}
	end := func(ms int) trace.SpanEndOption {
		return trace.WithTimestamp(t0.Add(time.Duration(ms) * time.Millisecond))
	}

	ctx, root := tracer("subscription").Start(context.Background(), "subscription subscribe", trace.WithSpanKind(trace.SpanKindServer), at(0))
	_, db := tracer("subscription").Start(ctx, "INSERT subscription", at(1), trace.WithAttributes(attribute.String("db.system.name", "postgresql")))
	db.End(end(2))
	_, db2 := tracer("subscription").Start(ctx, "COMMIT", at(2), trace.WithAttributes(attribute.String("db.system.name", "postgresql")))
	db2.End(end(3))
	root.End(end(4))
	_, pub := tracer("subscription").Start(ctx, "outbox publish subscription.requested", trace.WithSpanKind(trace.SpanKindProducer),
		at(5), trace.WithAttributes(subj("subscription", "requested")))
	pub.End(end(6))
	// The consumer failed once and was redelivered.
	_, c1 := tracer("catalog").Start(ctx, "catalog catalog_seats", trace.WithSpanKind(trace.SpanKindConsumer),
		at(7), trace.WithAttributes(subj("subscription", "requested"), attribute.Int64("moa.deliveries", 1)))
	c1.SetStatus(codes.Error, "unavailable")
	c1.End(end(8))
	_, c2 := tracer("catalog").Start(ctx, "catalog catalog_seats", trace.WithSpanKind(trace.SpanKindConsumer),
		at(20), trace.WithAttributes(subj("subscription", "requested"), attribute.Int64("moa.deliveries", 2)))
	c2.End(end(25))
	// A trace of its own (a job, say) carrying the same key: the payment failed.
	ctx2, job := tracer("billing").Start(context.Background(), "billing billing_payments", trace.WithSpanKind(trace.SpanKindConsumer),
		at(30), trace.WithAttributes(subj("catalog", "seat_reserved")))
	_, fail := tracer("billing").Start(ctx2, "outbox publish billing.payment_failed", trace.WithSpanKind(trace.SpanKindProducer),
		at(31), trace.WithAttributes(subj("billing", "payment_failed")))
	fail.End(end(32))
	job.End(end(33))
	// Unrelated traffic is not in the timeline.
	_, other := tracer("catalog").Start(context.Background(), "catalog search", at(35))
	other.End(end(36))

	tl := rec.Timeline(key)
	if len(tl.Traces) != 2 {
		t.Fatalf("traces %v: want the 2 that carry the key", tl.Traces)
	}
	var lines []string
	for _, s := range tl.Steps {
		lines = append(lines, fmt.Sprintf("%s|%s|%v|%v|retry=%v|comp=%v|db=%d|err=%s|depth=%d",
			s.Service, s.Name, s.Offset, s.Duration, s.Retry, s.Compensation, s.DBCalls, s.Error, s.Depth))
	}
	want := []string{
		"subscription|subscription subscribe|0|4|retry=false|comp=false|db=2|err=|depth=0",
		"subscription|outbox publish subscription.requested|5|1|retry=false|comp=false|db=0|err=|depth=1",
		"catalog|catalog catalog_seats|7|1|retry=false|comp=false|db=0|err=unavailable|depth=1",
		"catalog|catalog catalog_seats|20|5|retry=true|comp=false|db=0|err=|depth=1",
		"billing|billing billing_payments|30|3|retry=false|comp=false|db=0|err=|depth=0",
		"billing|outbox publish billing.payment_failed|31|1|retry=false|comp=true|db=0|err=|depth=1",
	}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Errorf("timeline:\n%v\nwant:\n%v", lines, want)
	}
	if tl.Duration != 33 || fmt.Sprint(tl.Services) != "[billing catalog subscription]" {
		t.Errorf("duration %v services %v", tl.Duration, tl.Services)
	}
	if tl.Steps[1].Event != "subscription.requested" || tl.Steps[3].Deliveries != 2 {
		t.Errorf("steps %+v", tl.Steps)
	}
	if got := rec.Timeline("unknown"); len(got.Steps) != 0 || len(got.Traces) != 0 {
		t.Errorf("a key no trace carries has a timeline: %+v", got)
	}
	if sum := rec.Recent(0); len(sum) != 3 || fmt.Sprint(sum[1].Keys) != "["+key+"]" || sum[2].Errors != 1 {
		t.Errorf("summaries %+v", sum)
	}
}

// The recorder goes with an exporter too (both get every span), and OTEL_SDK_DISABLED turns
// both off.
func TestRecorderWithExporterAndDisabled(t *testing.T) {
	rec := telemetry.NewRecorder(5)
	tr, err := telemetry.Setup(context.Background(), telemetry.Config{Recorder: rec, Getenv: env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_SAMPLER": "always_on"})})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Enabled() || !tr.Recording() {
		t.Fatalf("enabled %v recording %v: want both", tr.Enabled(), tr.Recording())
	}
	_, s := tr.Provider("billing").Tracer("t").Start(context.Background(), "billing charge")
	s.End()
	if got := rec.Recent(0); len(got) != 1 || got[0].Service != "billing" {
		t.Errorf("recorded %+v", got)
	}
	// Nothing listens there; shutting down must not wait for it long.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = tr.Shutdown(ctx)

	off, err := telemetry.Setup(context.Background(), telemetry.Config{Recorder: telemetry.NewRecorder(5),
		Getenv: env(map[string]string{"OTEL_SDK_DISABLED": "true"})})
	if err != nil {
		t.Fatal(err)
	}
	if off.Recording() || off.Provider("x").Tracer("t") == nil {
		t.Errorf("OTEL_SDK_DISABLED=true still records")
	}
}
