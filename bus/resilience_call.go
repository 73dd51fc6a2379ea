package bus

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/contracts"
)

// callState is what a client keeps per endpoint: the resolved policy, the breaker, the
// bulkhead counter and the metric series, looked up once instead of per call.
type callState struct {
	subject  string
	spanName string // "call <subject>"
	policy   Policy
	breaker  *breaker // nil when disabled or the client is plain
	inflight atomic.Int64

	callTime        prometheus.Observer
	callsOK         prometheus.Counter
	inflightGauge   prometheus.Gauge
	fallbackServed  prometheus.Counter
	fallbackRefused prometheus.Counter
	budgetExhausted prometheus.Counter
}

// stateOf returns the call state of req's endpoint, creating it on first use.
func (c *Client) stateOf(req *Request) *callState {
	if req.st != nil && req.st.subject == req.Endpoint.Subject {
		return req.st
	}
	subject := req.Endpoint.Subject
	if v, ok := c.states.Load(subject); ok {
		return v.(*callState)
	}
	// Creation is serialized so that a breaker (and its gauge) exists once per endpoint.
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.states.Load(subject); ok {
		return v.(*callState)
	}
	st := c.newState(req.Endpoint)
	st.breaker = c.newBreaker(st, req.Endpoint)
	c.states.Store(subject, st)
	return st
}

func (c *Client) newState(ep contracts.EndpointInfo) *callState {
	m, rm, name, subject := c.rt.metrics, c.rm, c.name, ep.Subject
	return &callState{
		subject:         subject,
		spanName:        "call " + subject,
		policy:          c.cfg.policyFor(subject),
		callTime:        m.callTime.WithLabelValues(name, subject),
		callsOK:         m.calls.WithLabelValues(name, subject, "ok"),
		inflightGauge:   rm.inflight.WithLabelValues(name, subject),
		fallbackServed:  rm.fallbacks.WithLabelValues(name, subject, "served"),
		fallbackRefused: rm.fallbacks.WithLabelValues(name, subject, "refused"),
		budgetExhausted: rm.budgetExhausted.WithLabelValues(name, subject),
	}
}

// newBreaker builds the endpoint's breaker, wired to the client's log and metrics; nil when the
// client is plain or the policy disables it.
func (c *Client) newBreaker(st *callState, ep contracts.EndpointInfo) *breaker {
	if c.cfg.plain || st.policy.Breaker.Disabled {
		return nil
	}
	p := st.policy.Breaker
	if p.SlowCall <= 0 {
		timeout := ep.Timeout
		if timeout <= 0 {
			timeout = contracts.DefaultTimeout
		}
		p.SlowCall = timeout / 2
	}
	gauge := c.rm.breakerState.WithLabelValues(c.name, st.subject)
	gauge.Set(float64(stateClosed))
	return newBreaker(p, func(from, to breakerState, w windowStats) {
		gauge.Set(float64(to))
		c.rm.breakerTransitions.WithLabelValues(c.name, st.subject, to.String()).Inc()
		attrs := []any{"client", c.name, "endpoint", st.subject, "from", from.String(), "to", to.String(),
			"window_calls", w.calls, "window_failures", w.failures, "window_slow", w.slow}
		if to == stateOpen {
			c.rt.log.Warn("circuit breaker opened", attrs...)
		} else {
			c.rt.log.Info("circuit breaker state changed", attrs...)
		}
	})
}

// enter takes a bulkhead slot; false means the cap is reached.
func (st *callState) enter() bool {
	n := st.inflight.Add(1)
	if max := st.policy.MaxConcurrent; max > 0 && n > int64(max) {
		st.inflight.Add(-1)
		return false
	}
	st.inflightGauge.Inc()
	return true
}

func (st *callState) leave() {
	st.inflight.Add(-1)
	st.inflightGauge.Dec()
}

// resilience is the client's default CallMiddleware. Order, outermost first: fallback (it sees
// the final failure, whatever produced it), bulkhead (one slot per logical call, held across
// its retries, so the cap is on callers, not attempts), retries, then the breaker around each
// attempt (every attempt is evidence about the dependency's health).
func (c *Client) resilience(next Invoker) Invoker {
	return func(ctx context.Context, req *Request) (*Reply, error) {
		st := c.stateOf(req)
		if !st.enter() {
			err := contracts.ErrBusy.Msg("%d calls to %s are already in flight", st.policy.MaxConcurrent, st.subject)
			return c.fallback(ctx, st, req, err)
		}
		rep, err := c.withRetries(ctx, st, req, next)
		st.leave()
		if err != nil {
			return c.fallback(ctx, st, req, err)
		}
		if st.policy.remember != nil && !rep.Degraded {
			st.policy.remember(req, rep)
		}
		return rep, nil
	}
}
