// Package telemetry exports the spans Moa makes (bus endpoints, consumers, typed calls, the
// edge's calls) to an OTLP/HTTP collector, configured by the standard OpenTelemetry
// environment, and gives logs the trace and span ids of the span they were written in.
//
// Traces are exported only when an endpoint is given: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// (used as is) or OTEL_EXPORTER_OTLP_ENDPOINT (with /v1/traces appended, as the
// specification says). With neither, or with OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none, [Setup] returns a disabled [Traces] whose providers are no-ops:
// the bus then skips span attributes entirely, as it always did, so an unconfigured process
// pays nothing. The other OTEL_EXPORTER_OTLP_* variables (headers, timeout, compression,
// certificates) are read by the exporter itself; OTEL_RESOURCE_ATTRIBUTES adds resource
// attributes.
//
// `moa dev` also keeps the spans of its recent traces in memory ([Recorder], Config.Recorder)
// for its operations page, with or without an exporter; `moa serve` does not.
//
// Sampling: OTEL_TRACES_SAMPLER (always_on, always_off, traceidratio, parentbased_always_on
// (the default), parentbased_always_off, parentbased_traceidratio) and OTEL_TRACES_SAMPLER_ARG
// (the ratio, default 1). A value the SDK would silently replace is an error here instead.
//
// Resource: service.name, service.version (the build's module version or VCS revision) and
// service.instance.id (one per process), plus service.namespace "moa". `moa dev` hosts every
// service in one process, each on a runtime of its own: [Traces.Provider] gives each of them
// a provider whose service.name is the Moa service ("catalog", "edge"), so that a trace viewer
// shows the hops between services, all sharing one exporter and one instance id. When
// OTEL_SERVICE_NAME is set it is the service.name of every provider (the user asked for
// that name), and the Moa service stays visible as the resource attribute moa.service.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config is what Setup needs besides the environment.
type Config struct {
	// Getenv reads the OTEL_* variables (nil: none is set, tracing is off).
	Getenv func(string) string
	// ServiceName is the process's service.name when OTEL_SERVICE_NAME is unset: the name of
	// the spans made outside any hosted service's runtime (default "moa").
	ServiceName string
	// Version is service.version (default: [Version]).
	Version string
	// Recorder, when set, keeps the spans of every provider in memory (`moa dev`'s
	// operations page), whether or not an OTLP endpoint is configured. Without one the
	// providers sample parent-based always-on; with one, as OTEL_TRACES_SAMPLER says.
	// OTEL_SDK_DISABLED=true turns the recorder off too.
	Recorder *Recorder
}

// Traces is the process's trace export: one exporter, one tracer provider per hosted
// service. A disabled Traces (nothing configured) hands out no-op providers.
type Traces struct {
	exporter   sdktrace.SpanExporter // nil when not exporting
	recorder   *Recorder             // nil when not recording in memory
	sampler    sdktrace.Sampler
	base       []attribute.KeyValue // service.version, instance id, namespace, env attributes
	envName    string               // OTEL_SERVICE_NAME
	defaultSvc string
	endpoint   string

	mu        sync.Mutex
	providers map[string]*sdktrace.TracerProvider
	closed    bool
}

// Setup reads the environment and, when an OTLP endpoint is configured, creates the exporter.
// Nothing is sent until a span ends; the exporter connects lazily, so an unreachable
// collector does not stop the process from starting (the SDK logs its export errors).
func Setup(ctx context.Context, cfg Config) (*Traces, error) {
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	t := &Traces{defaultSvc: cfg.ServiceName, envName: strings.TrimSpace(getenv("OTEL_SERVICE_NAME"))}
	if t.defaultSvc == "" {
		t.defaultSvc = "moa"
	}
	if off, err := boolEnv(getenv, "OTEL_SDK_DISABLED"); err != nil {
		return nil, err
	} else if off {
		return t, nil
	}
	version := cfg.Version
	if version == "" {
		version = Version()
	}
	t.base = []attribute.KeyValue{
		attribute.String("service.namespace", "moa"),
		attribute.String("service.version", version),
		attribute.String("service.instance.id", uuid.NewString()),
	}
	t.base = append(t.base, resourceAttrs(getenv("OTEL_RESOURCE_ATTRIBUTES"))...)
	if cfg.Recorder != nil {
		// Recording only (until an exporter is configured below): every span, unless a
		// caller's trace context says it is not sampled.
		t.recorder = cfg.Recorder
		t.sampler = sdktrace.ParentBased(sdktrace.AlwaysSample())
		t.providers = map[string]*sdktrace.TracerProvider{}
	}
	if e := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); e != "" && e != "otlp" {
		if e == "none" {
			return t, nil
		}
		return nil, fmt.Errorf("telemetry: OTEL_TRACES_EXPORTER=%q: only otlp (over HTTP) and none are supported", e)
	}
	endpoint := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
	if endpoint == "" {
		if base := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")); base != "" {
			endpoint = strings.TrimSuffix(base, "/") + "/v1/traces"
		}
	}
	if endpoint == "" {
		return t, nil
	}
	if p := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")); p == "" {
		p = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
		if p != "" && p != "http/protobuf" {
			return nil, fmt.Errorf("telemetry: OTEL_EXPORTER_OTLP_PROTOCOL=%q: only http/protobuf is supported", p)
		}
	} else if p != "http/protobuf" {
		return nil, fmt.Errorf("telemetry: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=%q: only http/protobuf is supported", p)
	}
	sampler, err := samplerFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	t.sampler = sampler
	t.endpoint = endpoint
	// WithEndpointURL overrides what the exporter would read from the environment itself,
	// so that the endpoint is the one this function decided on (and Getenv's, in tests).
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter for %s: %w", endpoint, err)
	}
	t.exporter = exp
	t.providers = map[string]*sdktrace.TracerProvider{}
	return t, nil
}

// Enabled says whether spans are exported.
func (t *Traces) Enabled() bool { return t != nil && t.exporter != nil }

// Recording says whether spans are made at all: exported, or kept by the recorder.
func (t *Traces) Recording() bool { return t != nil && (t.exporter != nil || t.recorder != nil) }

// Endpoint is the URL spans are sent to ("" when disabled).
func (t *Traces) Endpoint() string {
	if t == nil {
		return ""
	}
	return t.endpoint
}

// Provider returns the tracer provider of the hosted service (by its Moa name; "" for the
// process itself), the same one on every call; a no-op provider when disabled or shut down.
func (t *Traces) Provider(service string) trace.TracerProvider {
	if !t.Recording() {
		return noop.NewTracerProvider()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return noop.NewTracerProvider()
	}
	if p, ok := t.providers[service]; ok {
		return p
	}
	name := t.envName
	if name == "" {
		name = service
	}
	if name == "" {
		name = t.defaultSvc
	}
	attrs := append([]attribute.KeyValue{attribute.String("service.name", name)}, t.base...)
	if service != "" {
		attrs = append(attrs, attribute.String("moa.service", service))
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithSampler(t.sampler),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
	}
	if t.exporter != nil {
		// One batcher per provider, all on the one exporter, which the providers must not
		// shut down (Shutdown does, after every provider has flushed).
		opts = append(opts, sdktrace.WithBatcher(sharedExporter{t.exporter}))
	}
	if t.recorder != nil {
		opts = append(opts, sdktrace.WithSpanProcessor(t.recorder))
	}
	p := sdktrace.NewTracerProvider(opts...)
	t.providers[service] = p
	return p
}

// Flush exports every span that has ended so far.
func (t *Traces) Flush(ctx context.Context) error {
	if !t.Recording() {
		return nil
	}
	var errs []error
	for _, p := range t.snapshot() {
		errs = append(errs, p.ForceFlush(ctx))
	}
	return errors.Join(errs...)
}

// Shutdown flushes what is left and stops the exporter; the providers it gave out become
// no-ops. Call it after the runtimes stopped, so that their last spans are in.
func (t *Traces) Shutdown(ctx context.Context) error {
	if !t.Recording() {
		return nil
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	var errs []error
	for _, p := range t.snapshot() {
		errs = append(errs, p.Shutdown(ctx))
	}
	if t.exporter != nil {
		errs = append(errs, t.exporter.Shutdown(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry: flushing spans to %s: %w", t.endpoint, err)
	}
	return nil
}

func (t *Traces) snapshot() []*sdktrace.TracerProvider {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*sdktrace.TracerProvider, 0, len(t.providers))
	for _, p := range t.providers {
		out = append(out, p)
	}
	return out
}

// sharedExporter is the exporter as one provider's batcher sees it: its Shutdown only ends
// that batcher's use of it.
type sharedExporter struct{ sdktrace.SpanExporter }

func (sharedExporter) Shutdown(context.Context) error { return nil }

// samplerFromEnv is the sampler OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG name.
func samplerFromEnv(getenv func(string) string) (sdktrace.Sampler, error) {
	name := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER")))
	arg := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG"))
	ratio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return 0, fmt.Errorf("telemetry: OTEL_TRACES_SAMPLER_ARG=%q: want a ratio between 0 and 1", arg)
		}
		return r, nil
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio", "parentbased_traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		if name == "traceidratio" {
			return sdktrace.TraceIDRatioBased(r), nil
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	}
	return nil, fmt.Errorf("telemetry: OTEL_TRACES_SAMPLER=%q: want always_on, always_off, traceidratio, "+
		"parentbased_always_on, parentbased_always_off or parentbased_traceidratio", name)
}

// resourceAttrs parses OTEL_RESOURCE_ATTRIBUTES (key=value,key=value, values percent-encoded
// as the specification says). service.name, service.version and service.instance.id in it are
// ignored: OTEL_SERVICE_NAME, the hosted service and the build decide those.
func resourceAttrs(s string) []attribute.KeyValue {
	var out []attribute.KeyValue
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || k == "service.name" || k == "service.instance.id" || k == "service.version" {
			continue
		}
		if dec, err := url.PathUnescape(v); err == nil {
			v = dec
		}
		out = append(out, attribute.String(k, v))
	}
	return out
}

func boolEnv(getenv func(string) string, key string) (bool, error) {
	v := strings.ToLower(strings.TrimSpace(getenv(key)))
	switch v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, fmt.Errorf("telemetry: %s=%q: want true or false", key, v)
}

// Version is the running build's version: the main module's version when built from a
// tagged module, else the VCS revision (with "-dirty" for a modified tree), else "devel".
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
