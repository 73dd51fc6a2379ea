package bus

import (
	"time"
)

// Policy is how a client protects itself when calling one endpoint: retries, a circuit
// breaker, a bulkhead and an optional fallback. Every client applies [DefaultPolicy] to every
// endpoint unless told otherwise with [WithDefaultPolicy] or [WithPolicy]. Zero fields inherit
// the client's default, which inherits DefaultPolicy.
//
// The deadline is not part of the policy: it is the endpoint's declared Timeout
// (contracts.Endpoint) or the caller's context, whichever is sooner, and it bounds everything
// below, retries and backoff included.
type Policy struct {
	Retry   RetryPolicy
	Breaker BreakerPolicy
	// MaxConcurrent caps this client's calls in flight to the endpoint (the client-side
	// bulkhead); a call past the cap fails at once with contracts.ErrBusy, so one slow
	// dependency cannot pile up the caller's goroutines. Negative means no cap.
	MaxConcurrent int
	// Fallback, when set, turns a failed call into a degraded reply (see [Fallback]).
	Fallback Fallback

	// remember sees every successful reply (the LastGood cache).
	remember func(*Request, *Reply)
}

// RetryPolicy says how often and how patiently a call is repeated after a transient failure.
//
// Which failures are retried depends on what is known about the first attempt:
//   - no_responders and overloaded: no handler ran, so a retry cannot repeat an effect. These
//     are retried for every endpoint, idempotent or not (a rolling restart, a replica that
//     shed the request).
//   - a timeout or an unavailable error: the handler may have run. Only endpoints declared
//     Idempotent are retried, and a timeout only when the attempt had its own AttemptTimeout
//     and the caller's deadline still leaves time.
//   - circuit_open, busy, rate_limited, too_many_attempts, canceled and every non-transient
//     code: never. Repeating them adds load without changing the answer.
//
// Every retry waits a full-jitter exponential backoff, must fit in the caller's deadline, and
// takes a token from the client's [RetryBudget].
type RetryPolicy struct {
	// MaxAttempts bounds attempts, the first one included; 1 disables retries.
	MaxAttempts int
	// BaseBackoff is the backoff cap before the first retry; it doubles per retry up to
	// MaxBackoff. The actual wait is uniform in (0, cap] ("full jitter").
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// AttemptTimeout bounds one attempt of an idempotent call so that an attempt that hangs
	// can be retried within the caller's deadline. Zero lets an attempt use all the time left.
	AttemptTimeout time.Duration
}

// BreakerPolicy configures the circuit breaker kept per (client, endpoint).
//
// The breaker counts attempts over a sliding time window. A failure is a reply of kind
// unavailable, timeout or internal (the dependency could not serve); answers such as
// not_found or validation_failed are successes, the service did its job. Once the window has
// MinCalls attempts and the failure rate or the slow-call rate reaches its threshold the
// breaker opens: calls fail at once with contracts.ErrCircuitOpen for OpenFor. Then it lets
// Probes calls through (half-open); when all of them succeed, in time, it closes; any failure
// opens it again.
type BreakerPolicy struct {
	// Disabled turns the breaker off for the endpoint.
	Disabled bool
	// Window is the sliding window the rates are computed over.
	Window   time.Duration
	MinCalls int
	// FailureRate and SlowRate are fractions in (0, 1].
	FailureRate float64
	SlowRate    float64
	// SlowCall is the duration from which an attempt counts as slow. Zero means half the
	// endpoint's timeout.
	SlowCall time.Duration
	OpenFor  time.Duration
	Probes   int
}

// DefaultPolicy is the protection every call gets unless configured otherwise.
func DefaultPolicy() Policy {
	return Policy{
		Retry: RetryPolicy{MaxAttempts: 3, BaseBackoff: 20 * time.Millisecond, MaxBackoff: time.Second},
		Breaker: BreakerPolicy{
			Window: 10 * time.Second, MinCalls: 20, FailureRate: 0.5, SlowRate: 0.8,
			OpenFor: 5 * time.Second, Probes: 3,
		},
		MaxConcurrent: DefaultMaxInFlight, // as many as one instance of the service runs at once
	}
}

// RetryBudget bounds retries per client so that retries cannot multiply an outage: every
// call adds Ratio tokens, every retry takes one, and MinPerSecond tokens are added each second
// so that a client with little traffic can still retry. The bucket holds at most Burst tokens
// and starts full.
type RetryBudget struct {
	Ratio        float64
	MinPerSecond float64
	Burst        float64
}

// DefaultRetryBudget allows retries for about 10% of calls, plus 5 per second.
var DefaultRetryBudget = RetryBudget{Ratio: 0.1, MinPerSecond: 5, Burst: 10}

// ClientOption configures a client made by [Runtime.NewClientWith].
type ClientOption func(*clientConfig)

type clientConfig struct {
	def       Policy
	policies  map[string]Policy
	fallbacks map[string]Fallback
	lastGood  map[string]*LastGood
	budget    RetryBudget
	mws       []CallMiddleware
	plain     bool
}

func newClientConfig(opts []ClientOption) clientConfig {
	cfg := clientConfig{
		def:       DefaultPolicy(),
		policies:  map[string]Policy{},
		fallbacks: map[string]Fallback{},
		lastGood:  map[string]*LastGood{},
		budget:    DefaultRetryBudget,
	}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// WithDefaultPolicy sets the policy for every endpoint the client calls; zero fields keep
// [DefaultPolicy]'s values.
func WithDefaultPolicy(p Policy) ClientOption {
	return func(c *clientConfig) { c.def = mergePolicy(p, DefaultPolicy()) }
}

// WithPolicy sets the policy for the endpoint with this subject (e.g. "catalog.v1.list");
// zero fields keep the client's default.
func WithPolicy(subject string, p Policy) ClientOption {
	return func(c *clientConfig) { c.policies[subject] = p }
}

// WithFallback declares the fallback for calls to subject.
func WithFallback(subject string, fn Fallback) ClientOption {
	return func(c *clientConfig) { c.fallbacks[subject] = fn }
}

// WithLastGood serves calls to subject that fail from the last successful reply to the same
// request (same body), if it is younger than maxAge, marked degraded. entries bounds the cache.
func WithLastGood(subject string, entries int, maxAge time.Duration) ClientOption {
	return func(c *clientConfig) { c.lastGood[subject] = NewLastGood(entries, maxAge) }
}

// WithRetryBudget sets the client's retry budget.
func WithRetryBudget(b RetryBudget) ClientOption {
	return func(c *clientConfig) { c.budget = b }
}

// WithCallMiddleware adds call middleware, mws[0] outermost, inside the client's tracing and
// metrics and outside its resilience layer: middleware sees one logical call, not attempts.
func WithCallMiddleware(mws ...CallMiddleware) ClientOption {
	return func(c *clientConfig) { c.mws = append(c.mws, mws...) }
}

// WithoutResilience makes a client with no retries, breaker, bulkhead or fallback: the plain
// typed call (deadline, tracing, metrics). Meant for benchmarks and for tools that must see
// every failure as it is.
func WithoutResilience() ClientOption { return func(c *clientConfig) { c.plain = true } }

// policyFor resolves the policy of one endpoint: its override, else the client default.
func (c *clientConfig) policyFor(subject string) Policy {
	p := c.def
	if o, ok := c.policies[subject]; ok {
		p = mergePolicy(o, c.def)
	}
	if fb, ok := c.fallbacks[subject]; ok {
		p.Fallback = fb
	}
	if lg, ok := c.lastGood[subject]; ok {
		if p.Fallback == nil {
			p.Fallback = lg.Fallback
		}
		p.remember = lg.Remember
	}
	return p
}

// mergePolicy fills p's zero fields from base.
func mergePolicy(p, base Policy) Policy {
	r, br := &p.Retry, base.Retry
	orDur(&r.BaseBackoff, br.BaseBackoff)
	orDur(&r.MaxBackoff, br.MaxBackoff)
	orDur(&r.AttemptTimeout, br.AttemptTimeout)
	if r.MaxAttempts == 0 {
		r.MaxAttempts = br.MaxAttempts
	}
	b, bb := &p.Breaker, base.Breaker
	b.Disabled = b.Disabled || bb.Disabled
	orDur(&b.Window, bb.Window)
	orDur(&b.SlowCall, bb.SlowCall)
	orDur(&b.OpenFor, bb.OpenFor)
	if b.MinCalls == 0 {
		b.MinCalls = bb.MinCalls
	}
	if b.FailureRate == 0 {
		b.FailureRate = bb.FailureRate
	}
	if b.SlowRate == 0 {
		b.SlowRate = bb.SlowRate
	}
	if b.Probes == 0 {
		b.Probes = bb.Probes
	}
	if p.MaxConcurrent == 0 {
		p.MaxConcurrent = base.MaxConcurrent
	}
	if p.Fallback == nil {
		p.Fallback = base.Fallback
	}
	return p
}

func orDur(d *time.Duration, base time.Duration) {
	if *d == 0 {
		*d = base
	}
}
