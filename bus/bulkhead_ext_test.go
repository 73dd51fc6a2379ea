package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// Bulkheads on both sides: the service's in-flight and queue bounds (load shedding, visible in
// $SRV.STATS) and the client's cap on calls in flight per endpoint.

var shedSvc = contracts.Service{Name: "shed", Version: "1.0.0", Major: 1}

// blocker registers an endpoint whose handlers wait for release (or their deadline).
func blocker(t *testing.T, rt *bus.Runtime, name string, ran *atomic.Int32, release <-chan struct{}, opts ...bus.EndpointOption) contracts.Endpoint[contracts.Empty, contracts.Empty] {
	t.Helper()
	ep := contracts.Endpoint[contracts.Empty, contracts.Empty]{Service: shedSvc, Name: name, Timeout: 20 * time.Second}
	svc, err := rt.AddService(shedSvc)
	must(t, err)
	must(t, bus.Handle(svc, ep, func(ctx context.Context, _ contracts.Empty) (contracts.Empty, error) {
		ran.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return contracts.Empty{}, nil
	}, opts...))
	return ep
}

// endpointStats reads Moa's part of an endpoint's $SRV.STATS entry.
func endpointStats(t *testing.T, nc *nats.Conn, service, endpoint string) (bus.EndpointStats, int) {
	t.Helper()
	m := rawRequest(t, nc, "$SRV.STATS."+service, nil)
	var st micro.Stats
	must(t, json.Unmarshal(m.Data, &st))
	for _, e := range st.Endpoints {
		if e.Name == endpoint {
			var es bus.EndpointStats
			must(t, json.Unmarshal(e.Data, &es))
			return es, e.NumRequests
		}
	}
	t.Fatalf("no endpoint %s in stats of %s", endpoint, service)
	return bus.EndpointStats{}, 0
}

type rawResult struct {
	code string
	err  error
}

// rawCall sends a request without Moa's client (no retries) and reports the error code.
func rawCall(nc *nats.Conn, subject string, timeoutMs string, out chan<- rawResult) {
	m := nats.NewMsg(subject)
	if timeoutMs != "" {
		m.Header.Set(bus.HeaderTimeout, timeoutMs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := nc.RequestMsgWithContext(ctx, m)
	if err != nil {
		out <- rawResult{err: err}
		return
	}
	out <- rawResult{code: resp.Header.Get(bus.HeaderErrorCode)}
}

// TestServiceShedsLoadPastItsQueue: 2 running, 2 waiting, the rest answered "overloaded" at
// once, and $SRV.STATS shows it.
func TestServiceShedsLoadPastItsQueue(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	var ran atomic.Int32
	release := make(chan struct{})
	ep := blocker(t, rt, "block", &ran, release, bus.MaxInFlight(2), bus.MaxQueue(2))
	nc := connect(t, url)
	results := make(chan rawResult, 6)
	for i := 0; i < 2; i++ {
		go rawCall(nc, ep.Subject(), "", results)
	}
	eventually(t, 5*time.Second, func() bool { s, _ := endpointStats(t, nc, "shed", "block"); return s.InFlight == 2 }, "2 running")
	for i := 0; i < 2; i++ {
		go rawCall(nc, ep.Subject(), "", results)
	}
	eventually(t, 5*time.Second, func() bool { s, _ := endpointStats(t, nc, "shed", "block"); return s.Queued == 2 }, "2 queued")
	for i := 0; i < 2; i++ {
		go rawCall(nc, ep.Subject(), "", results)
	}
	for i := 0; i < 2; i++ {
		select {
		case r := <-results:
			if r.code != contracts.ErrOverloaded.Code {
				t.Fatalf("past the queue: got %+v, want overloaded", r)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a request past the queue bound was not answered at once")
		}
	}
	s, _ := endpointStats(t, nc, "shed", "block")
	if s.Shed != 2 || s.InFlight != 2 || s.Queued != 2 || s.MaxInFlight != 2 || s.MaxQueue != 2 {
		t.Fatalf("stats %+v", s)
	}
	close(release)
	for i := 0; i < 4; i++ {
		if r := <-results; r.err != nil || r.code != "" {
			t.Fatalf("admitted request failed: %+v", r)
		}
	}
	if ran.Load() != 4 {
		t.Fatalf("handler ran %d times, want 4", ran.Load())
	}
	if got := metricSum(t, rt, "moa_requests_shed_total", map[string]string{"name": "block"}); got != 2 {
		t.Fatalf("moa_requests_shed_total = %v", got)
	}
}

// TestQueuedRequestPastItsDeadlineIsNotRun: a request whose deadline passes while it waits in
// the queue is not run when its turn comes (its caller stopped waiting); it is answered
// deadline_exceeded and counted as expired.
func TestQueuedRequestPastItsDeadlineIsNotRun(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	var ran atomic.Int32
	release := make(chan struct{})
	ep := blocker(t, rt, "one", &ran, release, bus.MaxInFlight(1), bus.MaxQueue(4))
	nc := connect(t, url)
	first := make(chan rawResult, 1)
	go rawCall(nc, ep.Subject(), "", first)
	eventually(t, 5*time.Second, func() bool { return ran.Load() == 1 }, "the worker to be busy")
	late := make(chan rawResult, 1)
	sent := time.Now()
	go rawCall(nc, ep.Subject(), "200", late) // 200 ms to live; the raw caller itself waits 20 s
	eventually(t, 5*time.Second, func() bool { s, _ := endpointStats(t, nc, "shed", "one"); return s.Queued == 1 }, "the request to be queued")
	<-time.After(time.Until(sent.Add(300 * time.Millisecond))) // let its deadline pass in the queue
	close(release)
	if r := <-first; r.code != "" || r.err != nil {
		t.Fatalf("first: %+v", r)
	}
	select {
	case r := <-late:
		if r.code != contracts.ErrTimeout.Code {
			t.Fatalf("queued past its deadline: got %+v, want deadline_exceeded", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer for a request that expired in the queue")
	}
	if ran.Load() != 1 {
		t.Fatalf("the expired request ran (%d runs)", ran.Load())
	}
	if s, _ := endpointStats(t, nc, "shed", "one"); s.Expired != 1 || s.Queued != 0 {
		t.Fatalf("stats %+v, want expired 1, queued 0", s)
	}
}

// TestClientBulkheadRejectsAtOnce: past MaxConcurrent calls in flight to an endpoint, a call
// fails with busy without being sent.
func TestClientBulkheadRejectsAtOnce(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	var ran atomic.Int32
	release := make(chan struct{})
	ep := blocker(t, rt, "slow", &ran, release)
	c := rt.NewClientWith("bulk", bus.WithPolicy(ep.Subject(), bus.Policy{MaxConcurrent: 2}))
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() { _, err := bus.Call(context.Background(), c, ep, contracts.Empty{}); errs <- err }()
	}
	eventually(t, 5*time.Second, func() bool {
		return metricSum(t, rt, "moa_client_in_flight", map[string]string{"client": "bulk"}) == 2 && ran.Load() == 2
	}, "2 calls in flight")
	start := time.Now()
	_, err := bus.Call(context.Background(), c, ep, contracts.Empty{})
	if !errors.Is(err, contracts.ErrBusy) {
		t.Fatalf("third call: want busy, got %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("busy took %v: it must not wait", took)
	}
	close(release)
	for i := 0; i < 2; i++ {
		must(t, <-errs)
	}
	if ran.Load() != 2 {
		t.Fatalf("the rejected call reached the service (%d runs)", ran.Load())
	}
	eventually(t, 5*time.Second, func() bool {
		return metricSum(t, rt, "moa_client_in_flight", map[string]string{"client": "bulk"}) == 0
	}, "bulkhead slots released")
}
