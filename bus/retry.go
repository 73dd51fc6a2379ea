package bus

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/moa-run/moa/contracts"
)

// withRetries runs attempts until one succeeds, the failure is not worth repeating, the
// attempts, the deadline or the budget run out. It returns the last attempt's error.
func (c *Client) withRetries(ctx context.Context, st *callState, req *Request, next Invoker) (*Reply, error) {
	c.budget.deposit()
	if err := ctx.Err(); err != nil {
		// Dead on arrival: not the dependency's fault, so the breaker does not hear of it.
		return nil, transportError(st.subject, err)
	}
	p := st.policy.Retry
	maxAttempts := p.MaxAttempts
	if req.noRetry || maxAttempts < 1 {
		maxAttempts = 1
	}
	for attempt := 1; ; attempt++ {
		rep, err, attemptTimedOut := c.attempt(ctx, st, req, next)
		if err == nil {
			return rep, nil
		}
		if attempt >= maxAttempts || ctx.Err() != nil || !retryable(err, req.Endpoint.Idempotent, attemptTimedOut) {
			return nil, err
		}
		delay := backoff(p, attempt)
		// A retry that cannot finish before the deadline only burns the budget.
		if d, ok := ctx.Deadline(); ok && time.Until(d) < delay+time.Millisecond {
			return nil, err
		}
		if !c.budget.withdraw(time.Now()) {
			st.budgetExhausted.Inc()
			return nil, err
		}
		c.rm.retries.WithLabelValues(c.name, st.subject, contracts.AsError(err).Code).Inc()
		if !sleep(ctx, delay) {
			return nil, err
		}
	}
}

// attempt makes one attempt through the breaker. attemptTimedOut reports that the attempt's
// own AttemptTimeout, not the caller's deadline, cut it short.
func (c *Client) attempt(ctx context.Context, st *callState, req *Request, next Invoker) (rep *Reply, err error, attemptTimedOut bool) {
	// time.Now is read twice per attempt, no more: on some virtual machines it is a
	// noticeable part of the layer's cost.
	start := time.Now()
	gen, err := st.breaker.allow(start)
	if err != nil {
		return nil, err, false
	}
	actx := ctx
	if at := st.policy.Retry.AttemptTimeout; at > 0 && req.Endpoint.Idempotent {
		if d, ok := ctx.Deadline(); !ok || time.Until(d) > at {
			var cancel context.CancelFunc
			actx, cancel = context.WithTimeout(ctx, at)
			defer cancel()
		}
	}
	rep, err = next(actx, req)
	if st.breaker != nil {
		end := time.Now()
		st.breaker.record(gen, outcomeOf(err), end.Sub(start), end)
	}
	attemptTimedOut = err != nil && actx != ctx && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded)
	return rep, err, attemptTimedOut
}

// retryable decides whether a failed attempt may be repeated; see [RetryPolicy].
func retryable(err error, idempotent, attemptTimedOut bool) bool {
	ce := contracts.AsError(err)
	switch ce.Code {
	case contracts.ErrNoResponders.Code, contracts.ErrOverloaded.Code:
		return true // no handler ran
	case contracts.ErrCircuitOpen.Code, contracts.ErrBusy.Code, contracts.ErrRateLimited.Code,
		contracts.ErrTooManyAttempts.Code, contracts.ErrCanceled.Code:
		return false
	case contracts.ErrTimeout.Code:
		return idempotent && attemptTimedOut
	}
	return idempotent && ce.Kind == contracts.KindUnavailable
}

// backoff is the full-jitter exponential backoff before retry number attempt (1-based):
// uniform in (0, min(MaxBackoff, BaseBackoff·2^(attempt-1))]. Jitter spreads the retries of
// many callers that failed together, so they do not hit the dependency again in lockstep.
func backoff(p RetryPolicy, attempt int) time.Duration {
	capD := p.MaxBackoff
	if shift := attempt - 1; shift < 30 {
		if d := p.BaseBackoff << shift; d > 0 && d < capD {
			capD = d
		}
	}
	if capD <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(capD))) + 1
}

// sleep waits d or until ctx is done; false means ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// retryBudget is a token bucket shared by every call of one client. It is lock-free because
// every call deposits into it: tokens are kept in millitokens in one atomic.
type retryBudget struct {
	ratio  int64 // millitokens per call
	perSec float64
	burst  int64 // millitokens
	tokens atomic.Int64
	last   atomic.Int64 // unix nanos of the last time-based refill
}

func newRetryBudget(b RetryBudget, now time.Time) *retryBudget {
	r := &retryBudget{
		ratio:  int64(math.Round(b.Ratio * 1000)),
		perSec: b.MinPerSecond,
		burst:  int64(math.Round(max(b.Burst, 1) * 1000)),
	}
	r.tokens.Store(r.burst)
	r.last.Store(now.UnixNano())
	return r
}

// deposit credits one call.
func (b *retryBudget) deposit() {
	if b.ratio > 0 && b.tokens.Load() < b.burst {
		b.add(b.ratio)
	}
}

// withdraw takes one token for a retry; false means the budget is spent.
func (b *retryBudget) withdraw(now time.Time) bool {
	b.refill(now)
	for {
		t := b.tokens.Load()
		if t < 1000 {
			return false
		}
		if b.tokens.CompareAndSwap(t, t-1000) {
			return true
		}
	}
}

// refill adds the MinPerSecond floor for the time since the last refill.
func (b *retryBudget) refill(now time.Time) {
	if b.perSec <= 0 {
		return
	}
	last := b.last.Load()
	elapsed := now.UnixNano() - last
	add := int64(float64(elapsed) / float64(time.Second) * b.perSec * 1000)
	if add < 1 || !b.last.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	b.add(add)
}

// add credits n millitokens without passing the burst.
func (b *retryBudget) add(n int64) {
	for {
		t := b.tokens.Load()
		nt := min(t+n, b.burst)
		if nt <= t || b.tokens.CompareAndSwap(t, nt) {
			return
		}
	}
}
