package bus

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/moa-run/moa/contracts"
)

// breakerState is exported as the value of moa_client_breaker_state.
type breakerState int

const (
	stateClosed   breakerState = 0
	stateHalfOpen breakerState = 1
	stateOpen     breakerState = 2
)

func (s breakerState) String() string {
	switch s {
	case stateHalfOpen:
		return "half_open"
	case stateOpen:
		return "open"
	}
	return "closed"
}

// outcome is what one attempt tells the breaker about the dependency.
type outcome int

const (
	outcomeSuccess outcome = iota // it answered (an error answer like not_found included)
	outcomeFailure                // it could not serve: unavailable, timeout, internal
	outcomeIgnore                 // says nothing about it: the caller canceled, or a rate limit
)

func outcomeOf(err error) outcome {
	if err == nil {
		return outcomeSuccess
	}
	ce := contracts.AsError(err)
	switch ce.Code {
	case contracts.ErrCanceled.Code, contracts.ErrRateLimited.Code, contracts.ErrTooManyAttempts.Code:
		return outcomeIgnore
	}
	switch ce.Kind {
	case contracts.KindUnavailable, contracts.KindTimeout, contracts.KindInternal:
		return outcomeFailure
	}
	return outcomeSuccess
}

// windowStats are the counts of the sliding window.
type windowStats struct{ calls, failures, slow int }

// bucket holds the counts of one slice of the window; epoch tells which slice it holds now.
type bucket struct {
	epoch int64
	windowStats
}

// breaker is a circuit breaker over a time-based sliding window of buckets (see
// [BreakerPolicy]). Each permission carries the generation it was given in; results of an
// older generation (a call that started before the last state change) are dropped, so a slow
// call from before an opening cannot count as a successful probe.
type breaker struct {
	p         BreakerPolicy
	bucketDur time.Duration
	onChange  func(from, to breakerState, w windowStats)

	// closed is gen+1 while the breaker is closed, 0 otherwise: allow reads it without the
	// lock, so the healthy path takes the lock once per attempt (record), not twice.
	closed atomic.Uint64

	mu        sync.Mutex
	state     breakerState
	gen       uint64
	openUntil time.Time
	probes    int // probes let through in this half-open phase
	probesOK  int
	buckets   []bucket
}

const breakerBuckets = 10

func newBreaker(p BreakerPolicy, onChange func(from, to breakerState, w windowStats)) *breaker {
	bd := p.Window / breakerBuckets
	if bd <= 0 {
		bd = time.Millisecond
	}
	b := &breaker{p: p, bucketDur: bd, onChange: onChange, buckets: make([]bucket, breakerBuckets)}
	b.closed.Store(b.gen + 1)
	return b
}

// allow asks to make one attempt. It returns the generation to pass to record, or
// contracts.ErrCircuitOpen. A nil breaker allows everything.
func (b *breaker) allow(now time.Time) (uint64, error) {
	if b == nil {
		return 0, nil
	}
	if g := b.closed.Load(); g != 0 {
		// A state change right after this load starts a new generation, and record drops
		// the result of this one: the same as if the lock had been taken just before it.
		return g - 1, nil
	}
	b.mu.Lock()
	var changed bool
	if b.state == stateOpen && !now.Before(b.openUntil) {
		b.setState(stateHalfOpen)
		changed = true
	}
	gen, state, ok := b.gen, b.state, true
	switch b.state {
	case stateOpen:
		ok = false
	case stateHalfOpen:
		if b.probes >= b.p.Probes {
			ok = false
		} else {
			b.probes++
		}
	}
	b.mu.Unlock()
	if changed {
		b.onChange(stateOpen, stateHalfOpen, windowStats{})
	}
	if !ok {
		return 0, contracts.ErrCircuitOpen.Msg("calls are suspended after repeated failures (breaker %s)", state)
	}
	return gen, nil
}

// record reports the outcome of an attempt allowed in generation gen.
func (b *breaker) record(gen uint64, o outcome, took time.Duration, now time.Time) {
	if b == nil {
		return
	}
	slow := took >= b.p.SlowCall
	b.mu.Lock()
	if gen != b.gen {
		b.mu.Unlock()
		return
	}
	from := b.state
	var w windowStats
	switch b.state {
	case stateClosed:
		if o == outcomeIgnore {
			break
		}
		bk := b.bucketAt(now)
		bk.calls++
		if o == outcomeFailure {
			bk.failures++
		}
		if slow {
			bk.slow++
		}
		w = b.window(now)
		if w.calls >= b.p.MinCalls && (float64(w.failures) >= b.p.FailureRate*float64(w.calls) ||
			float64(w.slow) >= b.p.SlowRate*float64(w.calls)) {
			b.open(now)
		}
	case stateHalfOpen:
		switch {
		case o == outcomeIgnore:
			b.probes-- // the probe proved nothing; let another one through
		case o == outcomeFailure || slow:
			w = windowStats{calls: b.probesOK + 1, failures: 1}
			b.open(now)
		default:
			b.probesOK++
			if b.probesOK >= b.p.Probes {
				w = windowStats{calls: b.probesOK}
				b.setState(stateClosed)
				clear(b.buckets)
			}
		}
	}
	to := b.state
	b.mu.Unlock()
	if to != from {
		b.onChange(from, to, w)
	}
}

func (b *breaker) open(now time.Time) {
	b.setState(stateOpen)
	b.openUntil = now.Add(b.p.OpenFor)
}

// setState moves to s in a new generation.
func (b *breaker) setState(s breakerState) {
	b.state = s
	b.gen++
	b.probes, b.probesOK = 0, 0
	if s == stateClosed {
		b.closed.Store(b.gen + 1)
	} else {
		b.closed.Store(0)
	}
}

// bucketAt returns the bucket for now, reset if it last held an older slice.
func (b *breaker) bucketAt(now time.Time) *bucket {
	epoch := now.UnixNano() / int64(b.bucketDur)
	bk := &b.buckets[epoch%breakerBuckets]
	if bk.epoch != epoch {
		*bk = bucket{epoch: epoch}
	}
	return bk
}

// window sums the buckets that belong to the window ending at now.
func (b *breaker) window(now time.Time) windowStats {
	epoch := now.UnixNano() / int64(b.bucketDur)
	var w windowStats
	for i := range b.buckets {
		if bk := &b.buckets[i]; epoch-bk.epoch < breakerBuckets {
			w.calls += bk.calls
			w.failures += bk.failures
			w.slow += bk.slow
		}
	}
	return w
}

// stateName returns the breaker's state name, for diagnostics.
func (b *breaker) stateName() string {
	if b == nil {
		return "disabled"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state.String()
}
