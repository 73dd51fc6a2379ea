package telemetry_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/moa-run/moa/internal/telemetry"
)

// Without an endpoint nothing is exported and the providers are no-ops: spans do not record,
// so the bus skips their attributes.
func TestNothingConfiguredExportsNothing(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		"nothing set":       {"OTEL_SERVICE_NAME": "shop"},
		"sdk disabled":      {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"},
		"exporter none":     {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"},
		"sampler only":      {"OTEL_TRACES_SAMPLER": "always_on"},
		"protocol only set": {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
	} {
		t.Run(name, func(t *testing.T) {
			tr, err := telemetry.Setup(context.Background(), telemetry.Config{Getenv: env(vars)})
			if err != nil {
				t.Fatal(err)
			}
			if tr.Enabled() || tr.Endpoint() != "" {
				t.Errorf("enabled %v endpoint %q, want off", tr.Enabled(), tr.Endpoint())
			}
			_, s := tr.Provider("catalog").Tracer("t").Start(context.Background(), "x")
			if s.IsRecording() {
				t.Error("a disabled provider's span records")
			}
			if err := tr.Shutdown(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	if tr, err := telemetry.Setup(context.Background(), telemetry.Config{}); err != nil || tr.Enabled() {
		t.Errorf("nil Getenv: %v, %v; want off", tr, err)
	}
}

// A value the SDK would replace silently with its default is a start-up error that names it.
func TestBadEnvironmentIsAnError(t *testing.T) {
	base := "http://127.0.0.1:1"
	for _, tc := range []struct{ key, value string }{
		{"OTEL_SDK_DISABLED", "yes"},
		{"OTEL_TRACES_EXPORTER", "zipkin"},
		{"OTEL_TRACES_SAMPLER", "sometimes"},
		{"OTEL_TRACES_SAMPLER_ARG", "1.5"},
		{"OTEL_TRACES_SAMPLER_ARG", "half"},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
		{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"},
	} {
		vars := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_TRACES_SAMPLER": "traceidratio", tc.key: tc.value}
		_, err := telemetry.Setup(context.Background(), telemetry.Config{Getenv: env(vars)})
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s=%s: %v, want an error naming %s", tc.key, tc.value, err, tc.key)
		}
	}
}

func TestEndpointSamplerAndResource(t *testing.T) {
	ctx := context.Background()
	setup := func(vars map[string]string) *telemetry.Traces {
		t.Helper()
		tr, err := telemetry.Setup(ctx, telemetry.Config{Getenv: env(vars), ServiceName: "billing", Version: "v9.9.9"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Shutdown(ctx) })
		return tr
	}
	// The signal's own endpoint is used as it is; the base endpoint gets /v1/traces.
	tr := setup(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1/", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:2/custom",
	})
	if tr.Endpoint() != "http://127.0.0.1:2/custom" {
		t.Errorf("endpoint %q, want the traces endpoint as given", tr.Endpoint())
	}
	tr = setup(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1/", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=dev%20box,service.name=ignored"})
	if tr.Endpoint() != "http://127.0.0.1:1/v1/traces" {
		t.Errorf("endpoint %q, want the base endpoint with /v1/traces", tr.Endpoint())
	}
	catalog, process := resourceOf(t, tr.Provider("catalog")), resourceOf(t, tr.Provider(""))
	if tr.Provider("catalog") != tr.Provider("catalog") {
		t.Error("two providers for one service")
	}
	for k, want := range map[string]string{
		"service.name": "catalog", "moa.service": "catalog", "service.namespace": "moa", "service.version": "v9.9.9",
		"deployment.environment": "dev box",
	} {
		if catalog[k] != want {
			t.Errorf("catalog's resource %s = %q, want %q (all: %v)", k, catalog[k], want, catalog)
		}
	}
	if process["service.name"] != "billing" || process["moa.service"] != "" {
		t.Errorf("the process's resource %v: want service.name billing (Config.ServiceName), no moa.service", process)
	}
	if id := catalog["service.instance.id"]; id == "" || id != process["service.instance.id"] {
		t.Errorf("instance ids %q and %q: want one per process", id, process["service.instance.id"])
	}

	// OTEL_SERVICE_NAME names every provider; the hosted service stays in moa.service.
	tr = setup(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SERVICE_NAME": "shop"})
	if r := resourceOf(t, tr.Provider("catalog")); r["service.name"] != "shop" || r["moa.service"] != "catalog" {
		t.Errorf("with OTEL_SERVICE_NAME: %v, want service.name shop, moa.service catalog", r)
	}

	// Sampling: always_off records nothing; parentbased_always_on (the default) follows the parent.
	tr = setup(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_SAMPLER": "always_off"})
	if _, s := tr.Provider("x").Tracer("t").Start(ctx, "x"); s.IsRecording() {
		t.Error("always_off: the span records")
	}
	tr = setup(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"})
	if _, s := tr.Provider("x").Tracer("t").Start(ctx, "x"); s.IsRecording() {
		t.Error("traceidratio 0: the span records")
	}
	tr = setup(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"})
	unsampled := trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, Remote: true,
	}))
	if _, s := tr.Provider("x").Tracer("t").Start(unsampled, "x"); s.IsRecording() {
		t.Error("default sampler: a child of an unsampled remote parent records")
	}
	if _, s := tr.Provider("x").Tracer("t").Start(ctx, "x"); !s.IsRecording() {
		t.Error("default sampler: a root span does not record")
	}
}

func resourceOf(t *testing.T, tp trace.TracerProvider) map[string]string {
	t.Helper()
	_, s := tp.Tracer("t").Start(context.Background(), "probe")
	defer s.End()
	ro, ok := s.(sdktrace.ReadOnlySpan)
	if !ok {
		t.Fatalf("%T is not an SDK span", s)
	}
	out := map[string]string{}
	for _, kv := range ro.Resource().Attributes() {
		out[string(kv.Key)] = kv.Value.Emit()
	}
	return out
}

// A line logged in a recording span carries its trace and span ids, once; outside one, none.
func TestLogHandlerAddsTraceAndSpanIDs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewTextHandler(&buf, nil))).With("service", "catalog")
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	ctx, span := tp.Tracer("t").Start(context.Background(), "handler")
	sc := span.SpanContext()

	log.InfoContext(ctx, "in a span")
	log.InfoContext(ctx, "already has it", "trace_id", sc.TraceID().String()) // as bus.Logging writes it
	log.InfoContext(context.Background(), "outside")
	log.Info("no context")
	span.End()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	ids := "trace_id=" + sc.TraceID().String()
	for i, want := range []int{1, 1, 0, 0} {
		if n := strings.Count(lines[i], ids); n != want {
			t.Errorf("line %q: trace_id %d times, want %d", lines[i], n, want)
		}
		if got := strings.Count(lines[i], "span_id="+sc.SpanID().String()); got != want {
			t.Errorf("line %q: span_id %d times, want %d", lines[i], got, want)
		}
		if !strings.Contains(lines[i], "service=catalog") {
			t.Errorf("line %q lost the logger's attributes", lines[i])
		}
	}
	// Wrapping twice adds the ids once.
	buf.Reset()
	ctx, span = tp.Tracer("t").Start(context.Background(), "again")
	slog.New(telemetry.LogHandler(telemetry.LogHandler(slog.NewTextHandler(&buf, nil)))).InfoContext(ctx, "twice")
	span.End()
	if n := strings.Count(buf.String(), "span_id="); n != 1 {
		t.Errorf("wrapped twice: %q has span_id %d times", buf.String(), n)
	}
}
