package bus_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// metricSum sums the series of a counter or gauge family whose labels include want.
func metricSum(t *testing.T, rt *bus.Runtime, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := rt.Registry().(prometheus.Gatherer).Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			}
			if g := m.GetGauge(); g != nil {
				sum += g.GetValue()
			}
		}
	}
	return sum
}

type hopResp struct {
	A time.Duration `json:"a"`
	B time.Duration `json:"b"`
}

func left(ctx context.Context) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return -1
	}
	return time.Until(d)
}

// TestDeadlineShrinksAcrossHops: edge → A → B. Each hop sees less time than the one before,
// even where its own endpoint declares a longer timeout.
func TestDeadlineShrinksAcrossHops(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	hops := contracts.Service{Name: "hops", Version: "1.0.0", Major: 1}
	epB := contracts.Endpoint[contracts.Empty, hopResp]{Service: hops, Name: "b", Timeout: 30 * time.Second}
	epA := contracts.Endpoint[contracts.Empty, hopResp]{Service: hops, Name: "a", Timeout: 20 * time.Second}
	svc, err := rt.AddService(hops)
	must(t, err)
	must(t, bus.Handle(svc, epB, func(ctx context.Context, _ contracts.Empty) (hopResp, error) {
		return hopResp{B: left(ctx)}, nil
	}))
	must(t, bus.Handle(svc, epA, func(ctx context.Context, _ contracts.Empty) (hopResp, error) {
		a := left(ctx)
		r, err := bus.Call(ctx, rt.Client(), epB, contracts.Empty{})
		return hopResp{A: a, B: r.B}, err
	}))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := bus.Call(ctx, rt.Client(), epA, contracts.Empty{})
	must(t, err)
	if r.A <= 0 || r.A > 2*time.Second || r.B <= 0 || r.B >= r.A {
		t.Fatalf("edge gave 2s: A saw %v, B saw %v; want 0 < B < A <= 2s", r.A, r.B)
	}
	// No caller deadline: A gets its own 20 s; B, declared 30 s, still gets less than A.
	r, err = bus.Call(context.Background(), rt.Client(), epA, contracts.Empty{})
	must(t, err)
	if r.A > 20*time.Second || r.A < 19*time.Second || r.B >= r.A {
		t.Fatalf("A saw %v (want about 20s), B saw %v (want less than A)", r.A, r.B)
	}
}

// TestHandlerStopsWhenItsDeadlinePasses: a handler that honours its context stops at the
// caller's deadline; the service reports it as deadline_exceeded, not as an internal error.
func TestHandlerStopsWhenItsDeadlinePasses(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	spin := contracts.Service{Name: "spin", Version: "1.0.0", Major: 1}
	ep := contracts.Endpoint[contracts.Empty, contracts.Empty]{Service: spin, Name: "work", Timeout: 10 * time.Second}
	svc, err := rt.AddService(spin)
	must(t, err)
	stopped := make(chan time.Duration, 1)
	must(t, bus.Handle(svc, ep, func(ctx context.Context, _ contracts.Empty) (contracts.Empty, error) {
		start := time.Now()
		tick := time.NewTicker(time.Millisecond) // one unit of work per tick, forever
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				stopped <- time.Since(start)
				return contracts.Empty{}, ctx.Err()
			case <-tick.C:
			}
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = bus.Call(ctx, rt.Client(), ep, contracts.Empty{})
	if !errors.Is(err, contracts.ErrTimeout) {
		t.Fatalf("want deadline_exceeded, got %v", err)
	}
	select {
	case took := <-stopped:
		if took > 300*time.Millisecond+2*time.Second {
			t.Fatalf("handler ran %v past a 300ms deadline", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not stop after its deadline")
	}
	eventually(t, 5*time.Second, func() bool {
		return metricSum(t, rt, "moa_handler_errors_total", map[string]string{"name": "work", "code": "deadline_exceeded"}) == 1
	}, "the handler error to be counted as deadline_exceeded")
}

var failSvc = contracts.Service{Name: "fail", Version: "1.0.0", Major: 1}

// TestOnlyIdempotentCallsAreRetriedAfterTheHandlerRan: an unavailable answer is retried for an
// idempotent endpoint, never for one that is not; no_responders is retried for both.
func TestOnlyIdempotentCallsAreRetriedAfterTheHandlerRan(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	svc, err := rt.AddService(failSvc)
	must(t, err)
	var runs atomic.Int32
	unavailable := func(ctx context.Context, _ contracts.Empty) (contracts.Empty, error) {
		runs.Add(1)
		return contracts.Empty{}, contracts.ErrUnavailable.Msg("database is down")
	}
	pay := contracts.Endpoint[contracts.Empty, contracts.Empty]{Service: failSvc, Name: "pay"}
	get := contracts.Endpoint[contracts.Empty, contracts.Empty]{Service: failSvc, Name: "get", Idempotent: true}
	must(t, bus.Handle(svc, pay, unavailable))
	must(t, bus.Handle(svc, get, unavailable))
	policy := bus.Policy{Retry: bus.RetryPolicy{MaxAttempts: 3, BaseBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}}
	c := rt.NewClientWith("retrier", bus.WithDefaultPolicy(policy), bus.WithRetryBudget(bus.RetryBudget{Ratio: 1, Burst: 100}))

	_, err = bus.Call(context.Background(), c, pay, contracts.Empty{})
	if !errors.Is(err, contracts.ErrUnavailable) || runs.Load() != 1 {
		t.Fatalf("non-idempotent: %v after %d runs, want unavailable after 1", err, runs.Load())
	}
	runs.Store(0)
	_, err = bus.Call(context.Background(), c, get, contracts.Empty{})
	if !errors.Is(err, contracts.ErrUnavailable) || runs.Load() != 3 {
		t.Fatalf("idempotent: %v after %d runs, want unavailable after 3", err, runs.Load())
	}
	runs.Store(0)
	_, _ = bus.Call(context.Background(), c, get, contracts.Empty{}, bus.NoRetry())
	if runs.Load() != 1 {
		t.Fatalf("NoRetry: %d runs", runs.Load())
	}
	runs.Store(0)
	_, _ = bus.Call(context.Background(), c, pay, contracts.Empty{}, bus.Idempotent()) // e.g. it carries an idempotency key
	if runs.Load() != 3 {
		t.Fatalf("a call declared Idempotent: %d runs, want 3", runs.Load())
	}
	nobody := contracts.Endpoint[contracts.Empty, contracts.Empty]{Service: failSvc, Name: "nobody"}
	_, err = bus.Call(context.Background(), c, nobody, contracts.Empty{})
	if !errors.Is(err, contracts.ErrNoResponders) {
		t.Fatalf("want no_responders, got %v", err)
	}
	if got := metricSum(t, rt, "moa_client_retries_total", map[string]string{"endpoint": nobody.Subject(), "code": "no_responders"}); got != 2 {
		t.Fatalf("no_responders retries = %v, want 2 (it is safe for a non-idempotent endpoint)", got)
	}
}

// TestCallFallbackMarksTheReplyDegraded: a per-call fallback answers for a failing endpoint;
// the reply says so, and a caller-side error (not_found) is never covered.
func TestCallFallbackMarksTheReplyDegraded(t *testing.T) {
	url := startNATS(t)
	rt := newRuntime(t, url)
	startEcho(t, rt)
	fb := bus.CallFallback(func(ctx context.Context, req *bus.Request, err error) (*bus.Reply, error) {
		return &bus.Reply{Data: []byte(`{"text":"from cache"}`)}, nil
	})
	// An endpoint nobody serves: every attempt gets no_responders, then the fallback answers.
	dead := contracts.Endpoint[echoReq, echoResp]{Service: contracts.Service{Name: "gone", Major: 1}, Name: "say"}
	rep, err := bus.CallReply(context.Background(), rt.Client(), dead, echoReq{Text: "x"}, fb)
	must(t, err)
	if !rep.Degraded || rep.Header.Get(bus.HeaderDegraded) != "true" {
		t.Fatalf("fallback reply not marked degraded: %+v", rep)
	}
	resp, err := bus.DecodeReply[echoResp](dead.Subject(), rep)
	if err != nil || resp.Text != "from cache" {
		t.Fatalf("decoded %+v, %v", resp, err)
	}
	if _, err := bus.Call(context.Background(), rt.Client(), epNotFound, contracts.Empty{}, fb); !errors.Is(err, contracts.ErrNotFound) {
		t.Fatalf("not_found must reach the caller, got %v", err)
	}
	if rep, err := bus.CallReply(context.Background(), rt.Client(), epEcho, echoReq{Text: "live"}, fb); err != nil || rep.Degraded {
		t.Fatalf("healthy call: %+v, %v", rep, err)
	}
	if got := metricSum(t, rt, "moa_client_fallbacks_total", map[string]string{"outcome": "served"}); got != 1 {
		t.Fatalf("fallbacks served = %v, want 1", got)
	}
}
