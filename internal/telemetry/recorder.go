package telemetry

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// DefaultRecentTraces is how many traces `moa dev` keeps in memory for its operations page.
// A subscribe saga is about a hundred spans (most of them database calls) of a few hundred
// bytes each: 200 traces are the last minutes of a demo in a few MB, and the oldest trace is
// dropped whole when a new one starts.
const DefaultRecentTraces = 200

// maxSpansPerTrace bounds one trace, so that a trace that never ends (a job looping under
// one span) cannot grow the recorder past its budget; later spans of it are counted only.
const maxSpansPerTrace = 2000

// maxAttrLen cuts long attribute values (SQL text) to what a timeline shows.
const maxAttrLen = 240

// Span is what the recorder keeps of one ended span.
type Span struct {
	TraceID    string            `json:"trace_id"`
	SpanID     string            `json:"span_id"`
	ParentID   string            `json:"parent_id,omitempty"`
	Name       string            `json:"name"`
	Service    string            `json:"service"` // the Moa service (moa.service), else service.name
	Kind       string            `json:"kind"`    // server, client, consumer, producer, internal
	Start      time.Time         `json:"start"`
	End        time.Time         `json:"end"`
	Error      string            `json:"error,omitempty"` // the status description of a failed span
	Attributes map[string]string `json:"attributes,omitempty"`
	Events     []SpanEvent       `json:"events,omitempty"`
}

// SpanEvent is an event recorded on a span (an exception, a log-like mark).
type SpanEvent struct {
	Name string    `json:"name"`
	Time time.Time `json:"time"`
}

// Duration is how long the span took.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// TraceSummary describes one recorded trace in a list.
type TraceSummary struct {
	TraceID  string    `json:"trace_id"`
	Root     string    `json:"root"`           // the name of the earliest span without a recorded parent
	Service  string    `json:"service"`        // the service of that span
	Start    time.Time `json:"start"`          // the earliest span's start
	Duration float64   `json:"duration_ms"`    // to the latest span's end
	Spans    int       `json:"spans"`          // recorded spans (plus dropped ones)
	Errors   int       `json:"errors"`         // spans that failed
	Services []string  `json:"services"`       // every service in the trace, sorted
	Keys     []string  `json:"keys,omitempty"` // the event keys the trace's messages carry (subscription ids…)
}

// Recorder keeps the spans of the most recent traces in memory: an OpenTelemetry
// SpanProcessor, added to every provider of [Traces] when [Config.Recorder] is set. It is
// safe for concurrent use; recording one span is a map lookup and an append under a mutex,
// which is cheap next to the span itself (moa dev only).
type Recorder struct {
	max int

	mu     sync.Mutex
	traces map[string]*recTrace
	order  []string // trace ids, oldest first (by the first span recorded)
}

type recTrace struct {
	spans   []Span
	dropped int
	keys    map[string]bool
}

// NewRecorder keeps the last maxTraces traces (DefaultRecentTraces when not positive).
func NewRecorder(maxTraces int) *Recorder {
	if maxTraces <= 0 {
		maxTraces = DefaultRecentTraces
	}
	return &Recorder{max: maxTraces, traces: map[string]*recTrace{}}
}

var _ sdktrace.SpanProcessor = (*Recorder)(nil)

// OnStart does nothing: a span is recorded when it ends.
func (*Recorder) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd records the span.
func (r *Recorder) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	sp := Span{
		TraceID: s.SpanContext().TraceID().String(),
		SpanID:  s.SpanContext().SpanID().String(),
		Name:    s.Name(),
		Kind:    strings.TrimPrefix(s.SpanKind().String(), "SpanKind"),
		Start:   s.StartTime(),
		End:     s.EndTime(),
	}
	sp.Kind = strings.ToLower(sp.Kind)
	if p := s.Parent(); p.IsValid() {
		sp.ParentID = p.SpanID().String()
	}
	if st := s.Status(); st.Code == codes.Error {
		sp.Error = st.Description
		if sp.Error == "" {
			sp.Error = "error"
		}
	}
	if res := s.Resource(); res != nil {
		var name string
		for _, kv := range res.Attributes() {
			switch kv.Key {
			case "moa.service":
				sp.Service = kv.Value.AsString()
			case "service.name":
				name = kv.Value.AsString()
			}
		}
		if sp.Service == "" {
			sp.Service = name
		}
	}
	if attrs := s.Attributes(); len(attrs) > 0 {
		sp.Attributes = make(map[string]string, len(attrs))
		for _, kv := range attrs {
			sp.Attributes[string(kv.Key)] = attrString(kv)
		}
	}
	for _, ev := range s.Events() {
		sp.Events = append(sp.Events, SpanEvent{Name: ev.Name, Time: ev.Time})
	}
	key := EventKey(sp.Attributes["messaging.destination.name"])

	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.traces[sp.TraceID]
	if !ok {
		for len(r.order) >= r.max {
			delete(r.traces, r.order[0])
			r.order = r.order[1:]
		}
		t = &recTrace{keys: map[string]bool{}}
		r.traces[sp.TraceID] = t
		r.order = append(r.order, sp.TraceID)
	}
	if key != "" {
		t.keys[key] = true
	}
	if len(t.spans) >= maxSpansPerTrace {
		t.dropped++
		return
	}
	t.spans = append(t.spans, sp)
}

// Shutdown does nothing: the recorder keeps what it has for the page to read.
func (*Recorder) Shutdown(context.Context) error { return nil }

// ForceFlush does nothing: spans are recorded as they end.
func (*Recorder) ForceFlush(context.Context) error { return nil }

// EventKey is the key of an event subject (evt.<domain>.<name>.<key>: contracts.Event.Subject),
// "" for any other subject.
func EventKey(subject string) string {
	parts := strings.Split(subject, ".")
	if len(parts) != 4 || parts[0] != "evt" {
		return ""
	}
	return parts[3]
}

// Recent summarizes the recorded traces, newest first, at most limit (all when not positive).
func (r *Recorder) Recent(limit int) []TraceSummary {
	r.mu.Lock()
	ids := append([]string(nil), r.order...)
	r.mu.Unlock()
	out := []TraceSummary{}
	for i := len(ids) - 1; i >= 0 && (limit <= 0 || len(out) < limit); i-- {
		if s, ok := r.summary(ids[i]); ok {
			out = append(out, s)
		}
	}
	return out
}

func (r *Recorder) summary(id string) (TraceSummary, bool) {
	r.mu.Lock()
	t, ok := r.traces[id]
	var spans []Span
	var dropped int
	var keys []string
	if ok {
		spans, dropped = append([]Span(nil), t.spans...), t.dropped
		for k := range t.keys {
			keys = append(keys, k)
		}
	}
	r.mu.Unlock()
	if !ok || len(spans) == 0 {
		return TraceSummary{}, false
	}
	sort.Strings(keys)
	sortSpans(spans)
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanID] = true
	}
	sum := TraceSummary{TraceID: id, Start: spans[0].Start, Spans: len(spans) + dropped, Keys: keys}
	end := spans[0].End
	svcs := map[string]bool{}
	for _, s := range spans {
		if sum.Root == "" && (s.ParentID == "" || !ids[s.ParentID]) {
			sum.Root, sum.Service = s.Name, s.Service
		}
		if s.End.After(end) {
			end = s.End
		}
		if s.Error != "" {
			sum.Errors++
		}
		svcs[s.Service] = true
	}
	sum.Duration = ms(end.Sub(sum.Start))
	for s := range svcs {
		sum.Services = append(sum.Services, s)
	}
	sort.Strings(sum.Services)
	return sum, true
}

// Trace returns the recorded spans of one trace in start order (nil when not recorded).
func (r *Recorder) Trace(id string) []Span {
	r.mu.Lock()
	t, ok := r.traces[id]
	var spans []Span
	if ok {
		spans = append([]Span(nil), t.spans...)
	}
	r.mu.Unlock()
	sortSpans(spans)
	return spans
}

// TracesWithKey returns the ids of the recorded traces whose messages carry the event key
// (a subscription id: the saga's events are keyed by it), oldest first.
func (r *Recorder) TracesWithKey(key string) []string {
	if key == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, id := range r.order {
		if r.traces[id].keys[key] {
			out = append(out, id)
		}
	}
	return out
}

func sortSpans(spans []Span) {
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].Start.Before(spans[j].Start) })
}

func attrString(kv attribute.KeyValue) string {
	var s string
	switch kv.Value.Type() {
	case attribute.STRING:
		s = kv.Value.AsString()
	case attribute.INT64:
		s = strconv.FormatInt(kv.Value.AsInt64(), 10)
	default:
		s = kv.Value.Emit()
	}
	if len(s) > maxAttrLen {
		s = s[:maxAttrLen] + "…"
	}
	return s
}

// ms is a duration in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
