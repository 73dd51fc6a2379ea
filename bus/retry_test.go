package bus

import (
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
)

func TestRetryBudgetBoundsRetries(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	b := newRetryBudget(RetryBudget{Ratio: 0.1, Burst: 2}, t0)
	// Every one of 1000 calls fails and wants a retry: the budget allows 10% plus the burst.
	retries := 0
	for i := 0; i < 1000; i++ {
		b.deposit()
		if b.withdraw(t0) {
			retries++
		}
	}
	if retries > 102 || retries < 99 {
		t.Fatalf("%d retries for 1000 calls, want about 10%% + burst 2", retries)
	}
	// The floor: with no calls at all, MinPerSecond tokens a second, capped at the burst.
	b = newRetryBudget(RetryBudget{Ratio: 0.1, MinPerSecond: 3, Burst: 5}, t0)
	for b.withdraw(t0) {
	}
	if !b.withdraw(t0.Add(400*time.Millisecond)) || b.withdraw(t0.Add(400*time.Millisecond)) {
		t.Fatal("0.4 s at 3/s should refill exactly one token")
	}
	n := 0
	for b.withdraw(t0.Add(time.Hour)) {
		n++
	}
	if n != 5 {
		t.Fatalf("an hour of floor refill gave %d tokens, want the burst (5)", n)
	}
}

func TestBackoffIsJitteredAndCapped(t *testing.T) {
	p := RetryPolicy{BaseBackoff: 10 * time.Millisecond, MaxBackoff: 35 * time.Millisecond}
	for attempt, capD := range map[int]time.Duration{1: 10 * time.Millisecond, 2: 20 * time.Millisecond, 3: 35 * time.Millisecond, 40: 35 * time.Millisecond} {
		seen := map[time.Duration]bool{}
		for i := 0; i < 200; i++ {
			d := backoff(p, attempt)
			if d <= 0 || d > capD {
				t.Fatalf("attempt %d: backoff %v outside (0, %v]", attempt, d, capD)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Fatalf("attempt %d: only %d distinct delays in 200 draws: no jitter", attempt, len(seen))
		}
	}
}

func TestRetryableDecisions(t *testing.T) {
	cases := []struct {
		err                   error
		idempotent, attemptTO bool
		want                  bool
	}{
		{contracts.ErrNoResponders, false, false, true}, // nobody got it: safe for any endpoint
		{contracts.ErrOverloaded, false, false, true},   // shed before the handler ran
		{contracts.ErrUnavailable, false, false, false}, // the handler may have run
		{contracts.ErrUnavailable, true, false, true},
		{contracts.ErrTimeout, true, false, false}, // the caller's deadline passed: no time left
		{contracts.ErrTimeout, true, true, true},   // only the attempt's own timeout passed
		{contracts.ErrTimeout, false, true, false}, // outcome unknown, not idempotent: never
		{contracts.ErrCircuitOpen, true, false, false},
		{contracts.ErrBusy, true, false, false},
		{contracts.ErrRateLimited, true, false, false},
		{contracts.ErrCanceled, true, false, false},
		{contracts.ErrNotFound, true, false, false},
		{contracts.ErrInternal, true, false, false},
	}
	for _, c := range cases {
		if got := retryable(c.err, c.idempotent, c.attemptTO); got != c.want {
			t.Errorf("retryable(%v, idempotent=%v, attemptTimedOut=%v) = %v, want %v", c.err, c.idempotent, c.attemptTO, got, c.want)
		}
	}
}

func TestPolicyOverridesInheritTheDefault(t *testing.T) {
	cfg := newClientConfig([]ClientOption{
		WithDefaultPolicy(Policy{MaxConcurrent: 7}),
		WithPolicy("a.v1.x", Policy{Retry: RetryPolicy{MaxAttempts: 1}, Breaker: BreakerPolicy{OpenFor: time.Second}}),
	})
	p := cfg.policyFor("a.v1.x")
	if p.Retry.MaxAttempts != 1 || p.Breaker.OpenFor != time.Second || p.MaxConcurrent != 7 ||
		p.Breaker.MinCalls != DefaultPolicy().Breaker.MinCalls || p.Retry.BaseBackoff != DefaultPolicy().Retry.BaseBackoff {
		t.Fatalf("merged policy %+v", p)
	}
	if q := cfg.policyFor("b.v1.y"); q.Retry.MaxAttempts != 3 || q.MaxConcurrent != 7 {
		t.Fatalf("default policy %+v", q)
	}
}
