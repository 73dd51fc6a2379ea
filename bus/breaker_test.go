package bus

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
)

// breakerUnderTest records every transition the breaker reports.
type breakerUnderTest struct {
	*breaker
	changes []string
}

func newTestBreaker(p BreakerPolicy) *breakerUnderTest {
	bt := &breakerUnderTest{}
	bt.breaker = newBreaker(p, func(from, to breakerState, _ windowStats) {
		bt.changes = append(bt.changes, from.String()+">"+to.String())
	})
	return bt
}

var testBreakerPolicy = BreakerPolicy{
	Window: 10 * time.Second, MinCalls: 4, FailureRate: 0.5, SlowRate: 0.75,
	SlowCall: time.Second, OpenFor: 2 * time.Second, Probes: 2,
}

// call makes one attempt at now with outcome o taking took; it returns the allow error.
func (bt *breakerUnderTest) call(now time.Time, o outcome, took time.Duration) error {
	gen, err := bt.allow(now)
	if err != nil {
		return err
	}
	bt.record(gen, o, took, now.Add(took))
	return nil
}

func TestBreakerOpensOnFailureRateAndRecoversThroughProbes(t *testing.T) {
	bt := newTestBreaker(testBreakerPolicy)
	t0 := time.Unix(1_000_000, 0)
	fast := time.Millisecond
	for _, o := range []outcome{outcomeSuccess, outcomeFailure, outcomeSuccess} {
		if err := bt.call(t0, o, fast); err != nil {
			t.Fatal(err)
		}
	}
	if bt.stateName() != "closed" {
		t.Fatalf("opened below MinCalls: %s", bt.stateName())
	}
	if err := bt.call(t0, outcomeFailure, fast); err != nil { // 2 of 4 failed: 50%
		t.Fatal(err)
	}
	if bt.stateName() != "open" {
		t.Fatalf("state %s after 50%% failures, want open", bt.stateName())
	}
	err := bt.call(t0.Add(time.Second), outcomeSuccess, fast)
	if !errors.Is(err, contracts.ErrCircuitOpen) {
		t.Fatalf("open breaker let a call through: %v", err)
	}
	// After OpenFor: two probes, no more, until they report.
	t1 := t0.Add(3 * time.Second)
	g1, err1 := bt.allow(t1)
	g2, err2 := bt.allow(t1)
	_, err3 := bt.allow(t1)
	if err1 != nil || err2 != nil || !errors.Is(err3, contracts.ErrCircuitOpen) {
		t.Fatalf("half-open admissions: %v %v %v, want 2 probes then circuit_open", err1, err2, err3)
	}
	bt.record(g1, outcomeSuccess, fast, t1)
	bt.record(g2, outcomeSuccess, fast, t1)
	want := []string{"closed>open", "open>half_open", "half_open>closed"}
	if !slices.Equal(bt.changes, want) {
		t.Fatalf("transitions %v, want %v", bt.changes, want)
	}
	// Closing starts a fresh window: one failure does not reopen it.
	if err := bt.call(t1, outcomeFailure, fast); err != nil || bt.stateName() != "closed" {
		t.Fatalf("after close: %v, %s", err, bt.stateName())
	}
}

func TestBreakerProbeFailureReopens(t *testing.T) {
	bt := newTestBreaker(testBreakerPolicy)
	t0 := time.Unix(1_000_000, 0)
	for i := 0; i < 4; i++ {
		_ = bt.call(t0, outcomeFailure, time.Millisecond)
	}
	t1 := t0.Add(3 * time.Second)
	if err := bt.call(t1, outcomeFailure, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if bt.stateName() != "open" {
		t.Fatalf("state %s after a failed probe, want open", bt.stateName())
	}
	// Reopening restarts OpenFor from the failed probe.
	if _, err := bt.allow(t1.Add(time.Second)); !errors.Is(err, contracts.ErrCircuitOpen) {
		t.Fatalf("want circuit_open 1s after reopening, got %v", err)
	}
	want := []string{"closed>open", "open>half_open", "half_open>open"}
	if !slices.Equal(bt.changes, want) {
		t.Fatalf("transitions %v, want %v", bt.changes, want)
	}
}

func TestBreakerSlowCallsOpenIt(t *testing.T) {
	bt := newTestBreaker(testBreakerPolicy)
	t0 := time.Unix(1_000_000, 0)
	for i := 0; i < 3; i++ {
		_ = bt.call(t0, outcomeSuccess, 2*time.Second) // answered, but slowly
	}
	_ = bt.call(t0, outcomeSuccess, time.Millisecond)
	if bt.stateName() != "open" {
		t.Fatalf("3 of 4 calls slow (75%%): state %s, want open", bt.stateName())
	}
	// A slow probe counts as failed.
	t1 := t0.Add(3 * time.Second)
	_ = bt.call(t1, outcomeSuccess, 2*time.Second)
	if bt.stateName() != "open" {
		t.Fatalf("slow probe: state %s, want open", bt.stateName())
	}
}

func TestBreakerWindowSlides(t *testing.T) {
	bt := newTestBreaker(testBreakerPolicy)
	t0 := time.Unix(1_000_000, 0)
	for i := 0; i < 3; i++ {
		_ = bt.call(t0, outcomeFailure, time.Millisecond)
	}
	// 11 s later those failures are out of the 10 s window: 1 failure of 4 calls.
	t1 := t0.Add(11 * time.Second)
	_ = bt.call(t1, outcomeFailure, time.Millisecond)
	for i := 0; i < 3; i++ {
		_ = bt.call(t1, outcomeSuccess, time.Millisecond)
	}
	if bt.stateName() != "closed" {
		t.Fatalf("old failures still counted: %s", bt.stateName())
	}
}

func TestBreakerIgnoresStaleResultsAndNonFailures(t *testing.T) {
	bt := newTestBreaker(testBreakerPolicy)
	t0 := time.Unix(1_000_000, 0)
	stale, _ := bt.allow(t0) // a call that starts while closed and ends after the breaker opened
	for i := 0; i < 4; i++ {
		_ = bt.call(t0, outcomeFailure, time.Millisecond)
	}
	t1 := t0.Add(3 * time.Second)
	probe, err := bt.allow(t1)
	if err != nil {
		t.Fatal(err)
	}
	bt.record(stale, outcomeSuccess, time.Millisecond, t1)
	bt.record(stale, outcomeSuccess, time.Millisecond, t1)
	if bt.stateName() != "half_open" {
		t.Fatalf("stale successes closed the breaker: %s", bt.stateName())
	}
	// An ignored probe (the caller canceled) frees its place for another.
	bt.record(probe, outcomeIgnore, time.Millisecond, t1)
	if _, err := bt.allow(t1); err != nil {
		t.Fatalf("ignored probe kept its place: %v", err)
	}
	// What counts as a failure.
	for err, want := range map[error]outcome{
		nil:                       outcomeSuccess,
		contracts.ErrNotFound:     outcomeSuccess,
		contracts.ErrValidation:   outcomeSuccess,
		contracts.ErrTimeout:      outcomeFailure,
		contracts.ErrNoResponders: outcomeFailure,
		contracts.ErrInternal:     outcomeFailure,
		contracts.ErrOverloaded:   outcomeFailure,
		contracts.ErrCanceled:     outcomeIgnore,
		contracts.ErrRateLimited:  outcomeIgnore,
		errors.New("plain"):       outcomeFailure,
	} {
		if got := outcomeOf(err); got != want {
			t.Errorf("outcomeOf(%v) = %d, want %d", err, got, want)
		}
	}
}
