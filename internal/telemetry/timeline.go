package telemetry

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Compensations are the events that undo or refuse a step of a saga: a declined payment, the
// seat given back after it, a refund, no seat to reserve. A step that publishes or consumes
// one is marked as a compensation on the timeline.
var Compensations = map[string]bool{
	"billing.payment_failed":   true,
	"billing.refund_issued":    true,
	"catalog.seat_released":    true,
	"catalog.seat_unavailable": true,
	"subscription.cancelled":   true,
}

// Step is one hop of a saga on its timeline: an endpoint, a consumer, an outbox relay hop,
// a call between services. Database calls are not steps: they are counted in the step that
// made them.
type Step struct {
	TraceID  string `json:"trace_id"`
	SpanID   string `json:"span_id"`
	ParentID string `json:"parent_id,omitempty"`
	Service  string `json:"service"`
	Name     string `json:"name"` // the span's name: "catalog catalog_seats", "outbox publish catalog.seat_reserved"
	Kind     string `json:"kind"`
	// Subject and Event are the message's subject and event type ("catalog.seat_reserved"),
	// when the step handles or publishes an event.
	Subject  string  `json:"subject,omitempty"`
	Event    string  `json:"event,omitempty"`
	Offset   float64 `json:"offset_ms"` // from the timeline's first span
	Duration float64 `json:"duration_ms"`
	Depth    int     `json:"depth"`              // steps above it in the trace
	DBCalls  int     `json:"db_calls,omitempty"` // database calls made under it
	Error    string  `json:"error,omitempty"`
	// Retry: the message was delivered before (a redelivery of a consumer, or the same hop
	// seen again); Deliveries is the delivery count the bus recorded, when it did.
	Retry        bool `json:"retry,omitempty"`
	Deliveries   int  `json:"deliveries,omitempty"`
	Compensation bool `json:"compensation,omitempty"`
}

// Timeline is a saga's steps in order, from every recorded trace that carries its key.
type Timeline struct {
	Key      string    `json:"key"`
	Traces   []string  `json:"traces"`
	Start    time.Time `json:"start"`
	Duration float64   `json:"duration_ms"`
	Services []string  `json:"services"`
	Steps    []Step    `json:"steps"`
}

// Timeline builds the timeline of the saga whose events carry key (a subscription id) from
// the recorded traces; Steps is empty when no recorded trace carries it.
func (r *Recorder) Timeline(key string) Timeline {
	ids := r.TracesWithKey(key)
	var spans []Span
	for _, id := range ids {
		spans = append(spans, r.Trace(id)...)
	}
	t := BuildTimeline(key, spans)
	t.Traces = append([]string{}, ids...)
	return t
}

// BuildTimeline orders spans (of one or more traces) into a timeline.
func BuildTimeline(key string, spans []Span) Timeline {
	t := Timeline{Key: key, Traces: []string{}, Services: []string{}, Steps: []Step{}}
	if len(spans) == 0 {
		return t
	}
	spans = append([]Span(nil), spans...)
	sortSpans(spans)
	byID := make(map[string]*Span, len(spans))
	traces := map[string]bool{}
	for i := range spans {
		byID[spans[i].SpanID] = &spans[i]
		if !traces[spans[i].TraceID] {
			traces[spans[i].TraceID] = true
			t.Traces = append(t.Traces, spans[i].TraceID)
		}
	}
	t.Start = spans[0].Start
	end := spans[0].End
	// step: the nearest ancestor (or the span itself) that is a step.
	step := func(s *Span) *Span {
		for s != nil && isDB(s) {
			s = byID[s.ParentID]
		}
		return s
	}
	idx := map[string]int{} // span id → index in Steps
	seen := map[string]bool{}
	svcs := map[string]bool{}
	for i := range spans {
		s := &spans[i]
		if s.End.After(end) {
			end = s.End
		}
		if isDB(s) {
			if p := step(byID[s.ParentID]); p != nil {
				// The parent started earlier, so its step is in already.
				if j, ok := idx[p.SpanID]; ok {
					t.Steps[j].DBCalls++
				}
			}
			continue
		}
		st := Step{TraceID: s.TraceID, SpanID: s.SpanID, ParentID: s.ParentID, Service: s.Service, Name: s.Name,
			Kind: s.Kind, Offset: ms(s.Start.Sub(t.Start)), Duration: ms(s.Duration()), Error: s.Error}
		st.Subject = s.Attributes["messaging.destination.name"]
		if parts := strings.Split(st.Subject, "."); len(parts) == 4 && parts[0] == "evt" {
			st.Event = parts[1] + "." + parts[2]
		}
		if st.Event == "" && strings.HasPrefix(s.Name, "outbox publish ") {
			st.Event = strings.TrimPrefix(s.Name, "outbox publish ")
		}
		st.Compensation = Compensations[st.Event]
		if d, err := strconv.Atoi(s.Attributes[AttrDeliveries]); err == nil {
			st.Deliveries = d
			st.Retry = d > 1
		}
		if s.Kind == "consumer" || s.Kind == "server" {
			hop := fmt.Sprint(s.Service, "\x00", s.Name, "\x00", st.Subject)
			if seen[hop] && st.Subject != "" && s.Kind == "consumer" {
				st.Retry = true
			}
			seen[hop] = true
		}
		for p := step(byID[s.ParentID]); p != nil; p = step(byID[p.ParentID]) {
			st.Depth++
		}
		svcs[s.Service] = true
		idx[s.SpanID] = len(t.Steps)
		t.Steps = append(t.Steps, st)
	}
	t.Duration = ms(end.Sub(t.Start))
	for s := range svcs {
		t.Services = append(t.Services, s)
	}
	sort.Strings(t.Services)
	return t
}

// AttrDeliveries is the span attribute the bus sets on a consumer span: how many times the
// stream delivered the message (1 the first time; more is a retry).
const AttrDeliveries = "moa.deliveries"

func isDB(s *Span) bool { return s.Attributes["db.system.name"] != "" }
