package bus_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// The tests in this file run the dependency as a real process: the test binary re-executed
// as TestHelperProcess, connected to the test's embedded nats-server.

var depSvc = contracts.Service{Name: "dep", Version: "1.0.0", Major: 1}

type depReq struct {
	Key string `json:"key"`
}

type depResp struct {
	Key string `json:"key"`
	PID int    `json:"pid"`
}

var epDep = contracts.Endpoint[depReq, depResp]{Service: depSvc, Name: "get", Timeout: 10 * time.Second, Idempotent: true}

const (
	helperModeEnv = "MOA_TEST_HELPER_MODE"
	helperNATSEnv = "MOA_TEST_HELPER_NATS"
)

// TestHelperProcess is not a test: it is the dependency process of the tests below. Modes:
// ok answers; flaky fails half the calls with unavailable; hang never answers.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperModeEnv)
	if mode == "" {
		return
	}
	nc, err := nats.Connect(os.Getenv(helperNATSEnv))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := bus.New(nc, bus.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := rt.AddService(depSvc)
	if err != nil {
		t.Fatal(err)
	}
	err = bus.Handle(svc, epDep, func(ctx context.Context, r depReq) (depResp, error) {
		switch mode {
		case "hang":
			time.Sleep(time.Hour) // hung for good: ignores its context too
		case "flaky":
			if rand.IntN(2) == 0 {
				return depResp{}, contracts.ErrUnavailable.Msg("flaky dependency")
			}
		}
		return depResp{Key: r.Key, PID: os.Getpid()}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("READY")
	// Serve until killed, or until the parent goes away and our stdin closes.
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// helper is a running dependency process.
type helper struct {
	cmd  *exec.Cmd
	once sync.Once
}

func startHelper(t *testing.T, mode, url string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperModeEnv+"="+mode, helperNATSEnv+"="+url)
	if _, err := cmd.StdinPipe(); err != nil { // kept open: its closing ends the helper
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd}
	t.Cleanup(h.stop)
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "READY" {
				ready <- true
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			h.stop()
			t.Fatalf("helper %s exited before READY: %s", mode, stderr.String())
		}
	case <-time.After(60 * time.Second):
		h.stop()
		t.Fatalf("helper %s not ready after 60s: %s", mode, stderr.String())
	}
	return h
}

// stop kills the process (SIGKILL: a crash, not a graceful shutdown) and reaps it.
func (h *helper) stop() {
	h.once.Do(func() {
		_ = h.cmd.Process.Kill()
		_ = h.cmd.Wait()
	})
}

// callResult is one call as the caller saw it.
type callResult struct {
	took time.Duration
	code string // "" on success
	rep  *bus.Reply
}

func callDep(c *bus.Client, key string, deadline time.Duration) callResult {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	rep, err := bus.CallReply(ctx, c, epDep, depReq{Key: key})
	r := callResult{took: time.Since(start), rep: rep}
	if err != nil {
		r.code = contracts.AsError(err).Code
	}
	return r
}

// callMany makes n calls from workers goroutines.
func callMany(c *bus.Client, n, workers int, deadline time.Duration) []callResult {
	out := make([]callResult, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := range next {
				out[i] = callDep(c, fmt.Sprint("k", i), deadline)
			}
		})
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func percentile(rs []callResult, q float64) time.Duration {
	ds := make([]time.Duration, len(rs))
	for i, r := range rs {
		ds[i] = r.took
	}
	slices.Sort(ds)
	idx := int(float64(len(ds))*q+0.999999) - 1
	return ds[max(idx, 0)]
}

// goroutineBaseline warms the caller's connection up (its reply subscription is made on the
// first request) and returns the goroutine count to come back to.
func goroutineBaseline(t *testing.T, nc *nats.Conn) int {
	t.Helper()
	_, _ = nc.Request("moa.test.warmup", nil, time.Second)
	return runtime.NumGoroutine()
}

func assertGoroutinesBackTo(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for runtime.NumGoroutine() > baseline+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, baseline %d:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond) // polling the count, with a deadline
	}
}

// TestHangingDependency: the dependency never answers. Callers' latency stays bounded by their
// deadline, the breaker opens and fails fast, and it closes again once a healthy instance
// replaces the hung one.
func TestHangingDependency(t *testing.T) {
	url := startNATS(t)
	caller := newRuntime(t, url)
	c := caller.NewClientWith("edge", bus.WithPolicy(epDep.Subject(), bus.Policy{
		Breaker: bus.BreakerPolicy{MinCalls: 5, FailureRate: 0.5, OpenFor: 300 * time.Millisecond, Probes: 2},
	}))
	baseline := goroutineBaseline(t, caller.Conn())
	hung := startHelper(t, "hang", url)

	const deadline = 250 * time.Millisecond
	rs := callMany(c, 40, 8, deadline)
	var timeouts, open int
	var slowestOpen time.Duration
	for _, r := range rs {
		switch r.code {
		case contracts.ErrTimeout.Code:
			timeouts++
		case contracts.ErrCircuitOpen.Code:
			open++
			slowestOpen = max(slowestOpen, r.took)
		default:
			t.Fatalf("call to a hung dependency: code %q", r.code)
		}
	}
	p99 := percentile(rs, 0.99)
	t.Logf("hung dependency: %d timeouts, %d circuit_open, p50 %v, p99 %v, slowest circuit_open %v", timeouts, open, percentile(rs, 0.5), p99, slowestOpen)
	if p99 > deadline+750*time.Millisecond {
		t.Fatalf("p99 %v is not bounded by the %v deadline (the endpoint default is 10s)", p99, deadline)
	}
	if timeouts < 5 || open == 0 {
		t.Fatalf("want the breaker to open after the first timeouts: %d timeouts, %d circuit_open", timeouts, open)
	}
	if slowestOpen >= deadline {
		t.Fatalf("circuit_open took %v: an open breaker must fail fast", slowestOpen)
	}
	labels := map[string]string{"client": "edge", "endpoint": epDep.Subject()}
	if got := metricSum(t, caller, "moa_client_breaker_transitions_total", with(labels, "to", "open")); got < 1 {
		t.Fatalf("no transition to open in metrics")
	}

	hung.stop()
	fresh := startHelper(t, "ok", url)
	// Calls go on; the half-open breaker lets 2 probes through, and closes when both succeed.
	eventually(t, 30*time.Second, func() bool {
		return callDep(c, "x", time.Second).code == "" && metricSum(t, caller, "moa_client_breaker_state", labels) == 0
	}, "the breaker to close once calls succeed again")
	if got := metricSum(t, caller, "moa_client_breaker_transitions_total", with(labels, "to", "half_open")); got < 1 {
		t.Fatal("no transition to half_open in metrics")
	}
	if got := metricSum(t, caller, "moa_client_breaker_transitions_total", with(labels, "to", "closed")); got < 1 {
		t.Fatal("no transition to closed in metrics")
	}
	if got := metricSum(t, caller, "moa_client_breaker_state", labels); got != 0 {
		t.Fatalf("breaker state gauge %v after recovery, want 0 (closed)", got)
	}
	for i := 0; i < 10; i++ {
		if r := callDep(c, "after", time.Second); r.code != "" {
			t.Fatalf("after recovery: %s", r.code)
		}
	}
	fresh.stop()
	assertGoroutinesBackTo(t, baseline)
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range m {
		out[a] = b
	}
	return out
}

// TestFlakyDependencyRetriesStayWithinBudget: half the calls fail with a retryable error.
// Without a budget the client would retry about 90% of calls; the budget holds retries to
// 10% of calls plus its floor and burst. The dependency's own request count proves it.
func TestFlakyDependencyRetriesStayWithinBudget(t *testing.T) {
	url := startNATS(t)
	caller := newRuntime(t, url)
	budget := bus.RetryBudget{Ratio: 0.1, MinPerSecond: 2, Burst: 5}
	c := caller.NewClientWith("flaky", bus.WithRetryBudget(budget), bus.WithPolicy(epDep.Subject(), bus.Policy{
		Retry:   bus.RetryPolicy{MaxAttempts: 4, BaseBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond},
		Breaker: bus.BreakerPolicy{Disabled: true}, // this test is about the budget alone
	}))
	baseline := goroutineBaseline(t, caller.Conn())
	dep := startHelper(t, "flaky", url)

	const n = 300
	start := time.Now()
	rs := callMany(c, n, 6, 5*time.Second)
	elapsed := time.Since(start)
	var failed int
	for _, r := range rs {
		switch r.code {
		case "":
		case contracts.ErrUnavailable.Code:
			failed++
		default:
			t.Fatalf("unexpected code %q", r.code)
		}
	}
	retries := metricSum(t, caller, "moa_client_retries_total", map[string]string{"client": "flaky"})
	exhausted := metricSum(t, caller, "moa_client_retry_budget_exhausted_total", map[string]string{"client": "flaky"})
	bound := budget.Ratio*n + budget.MinPerSecond*elapsed.Seconds() + budget.Burst
	t.Logf("%d calls in %v: %d failed, %v retries (bound %.1f), %v retries refused by the budget", n, elapsed, failed, retries, bound, exhausted)
	if retries == 0 || exhausted == 0 {
		t.Fatalf("want some retries and some refused: retries %v, refused %v", retries, exhausted)
	}
	if retries > bound {
		t.Fatalf("%v retries for %d calls exceed the budget's %.1f", retries, n, bound)
	}
	_, served := endpointStats(t, caller.Conn(), depSvc.Name, epDep.Name)
	if served != n+int(retries) {
		t.Fatalf("the dependency got %d requests, want %d calls + %v retries", served, n, retries)
	}
	dep.stop()
	assertGoroutinesBackTo(t, baseline)
}

// TestStoppedDependency: the dependency process is killed. Calls fail fast (no_responders,
// then circuit_open), never waiting for their deadline, and a call declared with a
// LastGood fallback is answered from the last good reply, marked degraded.
func TestStoppedDependency(t *testing.T) {
	url := startNATS(t)
	caller := newRuntime(t, url)
	c := caller.NewClientWith("web", bus.WithLastGood(epDep.Subject(), 100, time.Minute), bus.WithPolicy(epDep.Subject(), bus.Policy{
		Breaker: bus.BreakerPolicy{MinCalls: 5, OpenFor: time.Minute},
	}))
	baseline := goroutineBaseline(t, caller.Conn())
	dep := startHelper(t, "ok", url)

	live := callDep(c, "page-1", 5*time.Second)
	if live.code != "" || live.rep.Degraded {
		t.Fatalf("live call: %+v", live)
	}
	want, err := bus.DecodeReply[depResp](epDep.Subject(), live.rep)
	must(t, err)

	dep.stop()
	eventually(t, 10*time.Second, func() bool { r := callDep(c, "page-1", 5*time.Second); return r.code == "" && r.rep.Degraded }, "the last good page to be served")

	const deadline = 3 * time.Second
	rs := callMany(c, 20, 4, deadline)
	var open int
	for _, r := range rs {
		switch r.code {
		case contracts.ErrNoResponders.Code:
		case contracts.ErrCircuitOpen.Code:
			open++
		default:
			t.Fatalf("call to a stopped dependency: code %q", r.code)
		}
		if r.took >= deadline/2 {
			t.Fatalf("a call to a stopped dependency took %v: it must fail fast, not wait for the %v deadline", r.took, deadline)
		}
	}
	if open == 0 {
		t.Fatal("the breaker never opened on a stopped dependency")
	}
	t.Logf("stopped dependency: %d of 20 calls circuit_open, p99 %v", open, percentile(rs, 0.99))

	r := callDep(c, "page-1", deadline)
	if r.code != "" || !r.rep.Degraded || r.rep.Header.Get(bus.HeaderDegraded) != "true" {
		t.Fatalf("with the breaker open, the cached page: %+v", r)
	}
	got, err := bus.DecodeReply[depResp](epDep.Subject(), r.rep)
	if err != nil || got != want {
		t.Fatalf("degraded reply %+v, %v; want the last good %+v", got, err, want)
	}
	if _, err := bus.Call(context.Background(), c, epDep, depReq{Key: "never-seen"}); !errors.Is(err, contracts.ErrCircuitOpen) {
		t.Fatalf("an uncached request must get the error: %v", err)
	}
	assertGoroutinesBackTo(t, baseline)
}
