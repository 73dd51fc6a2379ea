package bus

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/contracts"
)

// The service-side bulkhead. Each endpoint has an elastic pool of workers, at most
// MaxInFlight, and a queue of at most MaxQueue requests. A request that finds no worker busy
// goes to a parked worker, or a new one; a request that finds workers busy waits in the queue
// behind them when, at the endpoint's recent time per request, the busy workers will have
// taken it within handoffAfter; else it wakes a parked worker or starts a new one while the
// pool may grow, else it waits in the queue while the queue has room, else it is shed:
// answered contracts.ErrOverloaded at once. Workers park for workerIdle before they exit.
//
// Queueing behind a busy worker rather than waking a parked one: a busy worker takes the next
// queued request without parking, so on a loaded endpoint with quick handlers most requests
// cost no goroutine wake-up (one thread hand-off per request was the largest cost of a typed
// call at 32 callers in cmd/moabench, more than the raw nats.go Request's whole path). A slow
// handler must not hold up the requests behind it: a timer watches the queue, and a request
// that has waited handoffAfter gets a worker of its own while the pool may grow.
//
// A request's deadline is fixed when it arrives, so the time it waits in the queue counts
// against it; a worker that takes a request whose deadline has passed does not run it (its
// caller stopped waiting) and answers deadline_exceeded.

// workerIdle is how long a worker waits for work before it exits.
const workerIdle = 2 * time.Second

// handoffAfter is how long a request may wait behind busy workers before it gets a worker of
// its own. Short against any deadline, long against a quick handler.
const handoffAfter = 500 * time.Microsecond

// workerIdleFor changes workerIdle for one endpoint (tests make workers come and go fast).
func workerIdleFor(d time.Duration) EndpointOption { return func(e *endpoint) { e.idleFor = d } }

// job is one request waiting for, or held by, a worker.
type job struct {
	msg      Msg // in the job, not beside it: one allocation per request, not two
	reply    string
	arrived  time.Time
	deadline time.Time
}

// pool is an endpoint's workers and queue; every field is guarded by mu.
type pool struct {
	mu      sync.Mutex
	queue   []*job      // FIFO from head
	head    int         // index of the first queued job
	parked  []chan *job // parked workers, the last parked first; each chan holds one job
	running int         // workers running a job or about to
	armed   bool        // the queue watch timer is set
	watch   *time.Timer // fires handoffAfter after a request queued behind busy workers
}

func (p *pool) queued() int { return len(p.queue) - p.head }

func (p *pool) push(j *job) {
	if p.head > 0 && p.head == len(p.queue) {
		p.queue, p.head = p.queue[:0], 0
	}
	p.queue = append(p.queue, j)
}

func (p *pool) pop() *job {
	j := p.queue[p.head]
	p.queue[p.head] = nil
	p.head++
	if p.head == len(p.queue) {
		p.queue, p.head = p.queue[:0], 0
	}
	return j
}

// dispatch runs on the endpoint subscription's goroutine: it must not block.
func (s *Service) dispatch(e *endpoint, req *nats.Msg) {
	now := time.Now()
	j := &job{msg: Msg{Kind: KindRequest, Service: s.spec.Name, Name: e.name, Subject: req.Subject,
		Header: req.Header, Data: req.Data, spanName: e.spanName}, reply: req.Reply, arrived: now}
	if j.msg.Header == nil {
		j.msg.Header = nats.Header{}
	}
	j.deadline = now.Add(requestTimeout(j.msg.Header, e.timeout))
	if !s.admit() {
		s.answer(e, j, nil, contracts.ErrUnavailable.Msg("%s is stopping", s.spec.Name))
		return
	}
	p := &e.pool
	p.mu.Lock()
	queued := p.queued()
	if p.running > 0 && queued < e.maxQueue && int64(queued+1)*e.jobTime.Load() < int64(p.running)*int64(handoffAfter) {
		p.push(j) // a busy worker takes it soon, without a wake-up
		s.watchQueue(e)
		p.mu.Unlock()
		return
	}
	if s.giveLocked(e, j) {
		p.mu.Unlock()
		return
	}
	if queued < e.maxQueue {
		p.push(j)
		s.watchQueue(e)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	s.release()
	e.shed.Add(1)
	s.rt.metrics.shed.WithLabelValues(s.spec.Name, e.name).Inc()
	s.answer(e, j, nil, contracts.ErrOverloaded.Msg("%s has %d requests in flight and %d waiting", e.subject, e.maxInFlight, e.maxQueue))
}

// giveLocked hands j to a parked worker, or to a new one while the pool may grow; false when
// every worker is busy and the pool is full. Called with the pool's lock held.
func (s *Service) giveLocked(e *endpoint, j *job) bool {
	p := &e.pool
	if n := len(p.parked); n > 0 {
		ch := p.parked[n-1]
		p.parked[n-1] = nil
		p.parked = p.parked[:n-1]
		p.running++
		ch <- j // buffered: never blocks
		return true
	}
	if e.workers.Load() < int64(e.maxInFlight) {
		e.workers.Add(1)
		p.running++
		go s.work(e, j)
		return true
	}
	return false
}

// watchQueue sets the queue watch unless it is set. Called with the pool's lock held.
func (s *Service) watchQueue(e *endpoint) {
	p := &e.pool
	if p.armed {
		return
	}
	p.armed = true
	if p.watch == nil {
		p.watch = time.AfterFunc(handoffAfter, func() { s.checkQueue(e) })
		return
	}
	p.watch.Reset(handoffAfter)
}

// checkQueue gives every request that has waited handoffAfter a worker of its own, while the
// pool may grow, and watches the rest. When the pool is full it stops watching: every worker
// is then busy and takes from the queue before it parks.
func (s *Service) checkQueue(e *endpoint) {
	p := &e.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = false
	now := time.Now()
	for p.queued() > 0 {
		waited := now.Sub(p.queue[p.head].arrived)
		if waited < handoffAfter {
			p.armed = true
			p.watch.Reset(handoffAfter - waited)
			return
		}
		if len(p.parked) == 0 && e.workers.Load() >= int64(e.maxInFlight) {
			return // full: every worker is busy and takes from the queue before it parks
		}
		s.giveLocked(e, p.pop())
	}
}

// work runs j, then queued jobs, until it has been idle for workerIdle or the service stops.
func (s *Service) work(e *endpoint, j *job) {
	p := &e.pool
	wake := make(chan *job, 1)
	idle := time.NewTimer(e.idleFor)
	defer idle.Stop()
	for {
		if j != nil {
			s.process(e, j)
			j = nil
		}
		p.mu.Lock()
		if p.queued() > 0 {
			j = p.pop()
			p.mu.Unlock()
			continue
		}
		p.running--
		p.parked = append(p.parked, wake)
		p.mu.Unlock()
		idle.Reset(e.idleFor)
		select {
		case j = <-wake: // the waker counted us running
			continue
		case <-idle.C:
		case <-s.quit:
		}
		p.mu.Lock()
		if i := slices.Index(p.parked, wake); i >= 0 {
			p.parked = slices.Delete(p.parked, i, i+1)
			e.workers.Add(-1)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		j = <-wake // a waker took us off the parked list as we were leaving: its job is ours
	}
}

// process runs one job's handler, or drops it when its deadline passed in the queue.
func (s *Service) process(e *endpoint, j *job) {
	defer s.release()
	start := time.Now()
	if !start.Before(j.deadline) {
		e.expired.Add(1)
		s.rm.expired.WithLabelValues(s.spec.Name, e.name).Inc()
		s.answer(e, j, nil, contracts.ErrTimeout.Msg("%s: the request waited in the queue past its deadline", e.subject))
		return
	}
	ctx, cancel := context.WithDeadline(s.rt.ctx, j.deadline)
	defer cancel()
	if tok := tokenFromHeader(j.msg.Header); tok != "" {
		ctx = WithAuthToken(ctx, tok)
	}
	e.inflight.Add(1)
	out, err := e.handler(ctx, &j.msg)
	e.inflight.Add(-1)
	if err != nil {
		e.errors.Add(1)
	}
	s.answer(e, j, out, err)
	// A moving average over about 8 jobs; a lost update between workers only makes it lag.
	avg := e.jobTime.Load()
	e.jobTime.Store(avg + (int64(time.Since(start))-avg)/8)
}

// requestTimeout is the time the caller gives a request (header Moa-Timeout-Ms), or def for
// callers that send none.
func requestTimeout(h nats.Header, def time.Duration) time.Duration {
	if v := h.Get(HeaderTimeout); v != "" {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 {
			return time.Duration(ms) * time.Millisecond
		}
	}
	return def
}
