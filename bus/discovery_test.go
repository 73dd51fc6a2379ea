package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// logRecords keeps every record logged, for assertions on level and message.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

// about returns the level and message of every record whose attribute name is endpoint.
func (l *logRecords) about(endpoint string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "name" && a.Value.String() == endpoint {
				out = append(out, r.Level.String()+" "+r.Message)
				return false
			}
			return true
		})
	}
	return out
}

var statsSvc = contracts.Service{Name: "stats", Version: "1.0.0", Major: 1, Description: "micro stats test"}

// handledByOutcome reads moa_handled_total of one endpoint by outcome.
func handledByOutcome(t *testing.T, rt *bus.Runtime, endpoint string) map[string]float64 {
	t.Helper()
	mfs, err := rt.Registry().(prometheus.Gatherer).Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "moa_handled_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["name"] == endpoint {
				out[labels["outcome"]] += (*dto.Counter).GetValue(m.GetCounter())
			}
		}
	}
	return out
}

// What `nats micro stats` and `nats micro info` show is true: every request an endpoint
// answered counted, its error answers counted as errors, and the processing time the
// handler's, not the microseconds it takes to hand a request to a worker. A client's mistake
// is logged at INFO as rejected and counted apart; a server fault stays an ERROR.
func TestMicroStatsCountWhatHandlersDid(t *testing.T) {
	url := startNATS(t)
	logs := &logRecords{}
	rt := newRuntime(t, url, bus.WithLogger(slog.New(logs)))
	svc, err := rt.AddService(statsSvc)
	must(t, err)
	const work = 3 * time.Millisecond
	slow := contracts.Endpoint[contracts.Empty, contracts.Empty]{Service: statsSvc, Name: "slow", Description: "takes a while"}
	missing := contracts.Endpoint[contracts.Empty, contracts.Empty]{Service: statsSvc, Name: "missing"}
	broken := contracts.Endpoint[contracts.Empty, contracts.Empty]{Service: statsSvc, Name: "broken"}
	must(t, bus.Handle(svc, slow, func(ctx context.Context, _ contracts.Empty) (contracts.Empty, error) {
		// The work whose duration the stats must show.
		select {
		case <-time.After(work):
		case <-ctx.Done():
		}
		return contracts.Empty{}, nil
	}))
	must(t, bus.Handle(svc, missing, func(context.Context, contracts.Empty) (contracts.Empty, error) {
		return contracts.Empty{}, contracts.ErrNotFound.Msg("no such thing")
	}))
	must(t, bus.Handle(svc, broken, func(context.Context, contracts.Empty) (contracts.Empty, error) {
		return contracts.Empty{}, errors.New("the disk is on fire")
	}))

	c := rt.Client()
	for range 3 {
		if _, err := bus.Call(context.Background(), c, slow, contracts.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		if _, err := bus.Call(context.Background(), c, missing, contracts.Empty{}); !errors.Is(err, contracts.ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
	}
	for range 2 {
		if _, err := bus.Call(context.Background(), c, broken, contracts.Empty{}); !errors.Is(err, contracts.ErrInternal) {
			t.Fatalf("broken: %v", err)
		}
	}
	// A body that is not JSON: refused before the handler, still a request and an error.
	nc := connect(t, url)
	if m := rawRequest(t, nc, slow.Subject(), []byte("{")); m.Header.Get(micro.ErrorCodeHeader) != contracts.ErrBadRequest.Code {
		t.Fatalf("bad body answered %q", m.Header.Get(micro.ErrorCodeHeader))
	}

	var stats micro.Stats
	must(t, json.Unmarshal(rawRequest(t, nc, "$SRV.STATS.stats", nil).Data, &stats))
	if stats.Type != micro.StatsResponseType || stats.Name != "stats" || stats.ID == "" {
		t.Fatalf("stats identity: %+v", stats.ServiceIdentity)
	}
	got := map[string]*micro.EndpointStats{}
	for _, e := range stats.Endpoints {
		got[e.Name] = e
	}
	for name, want := range map[string]struct{ requests, errors int }{"slow": {4, 1}, "missing": {4, 4}, "broken": {2, 2}} {
		e := got[name]
		if e == nil {
			t.Fatalf("no stats for %s: %+v", name, stats.Endpoints)
		}
		if e.NumRequests != want.requests || e.NumErrors != want.errors {
			t.Errorf("%s: %d requests, %d errors; want %d and %d", name, e.NumRequests, e.NumErrors, want.requests, want.errors)
		}
		if want.errors > 0 && e.LastError == "" {
			t.Errorf("%s: errors without a last error", name)
		}
		var data bus.EndpointStats
		must(t, json.Unmarshal(e.Data, &data))
		if data.Errors != int64(e.NumErrors) {
			t.Errorf("%s: data.errors %d next to %d micro errors", name, data.Errors, e.NumErrors)
		}
	}
	// Three of the four slow requests ran the work: the average is at least 3/4 of it.
	if s := got["slow"]; s.ProcessingTime < 3*work || s.AverageProcessingTime < 3*work/4 {
		t.Errorf("slow: processing %v, average %v; the handler worked %v per call", s.ProcessingTime, s.AverageProcessingTime, work)
	}

	// $SRV.INFO lists the endpoints with their metadata, $SRV.PING this instance.
	var info micro.Info
	must(t, json.Unmarshal(rawRequest(t, nc, "$SRV.INFO.stats", nil).Data, &info))
	if info.ID != stats.ID || len(info.Endpoints) != 3 || info.Description != statsSvc.Description {
		t.Fatalf("info: %+v", info)
	}
	for _, e := range info.Endpoints {
		if e.Name == "slow" && (e.Subject != slow.Subject() || e.QueueGroup != micro.DefaultQueueGroup || e.Metadata["description"] != "takes a while") {
			t.Errorf("info of slow: %+v", e)
		}
	}
	var ping micro.Ping
	must(t, json.Unmarshal(rawRequest(t, nc, "$SRV.PING.stats."+stats.ID, nil).Data, &ping))
	if ping.ID != stats.ID || ping.Type != micro.PingResponseType {
		t.Fatalf("ping: %+v", ping)
	}

	// The client's mistakes are INFO "request rejected" and their own outcome; the server's
	// fault is an ERROR.
	for _, l := range logs.about("missing") {
		if l != "INFO request rejected" {
			t.Errorf("missing logged %q, want INFO request rejected", l)
		}
	}
	if n := len(logs.about("missing")); n != 4 {
		t.Errorf("missing logged %d lines, want 4", n)
	}
	for _, l := range logs.about("broken") {
		if l != "ERROR handler failed" {
			t.Errorf("broken logged %q, want ERROR handler failed", l)
		}
	}
	if h := handledByOutcome(t, rt, "missing"); h["rejected"] != 4 || h["error"] != 0 {
		t.Errorf("missing by outcome: %v", h)
	}
	if h := handledByOutcome(t, rt, "broken"); h["error"] != 2 || h["rejected"] != 0 {
		t.Errorf("broken by outcome: %v", h)
	}

	// Stopped, the service is off the bus: no endpoint and no answer to the protocol.
	must(t, svc.Micro().Stop())
	if !svc.Micro().Stopped() {
		t.Fatal("not stopped")
	}
	if _, err := nc.Request("$SRV.PING.stats", nil, time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("ping after stop: %v", err)
	}
	if _, err := nc.Request(slow.Subject(), []byte("{}"), time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request after stop: %v", err)
	}
}
