package bus

import (
	"context"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/moa-run/moa/contracts"
)

// The service-side bulkhead. Each endpoint has an elastic pool of workers, at most
// MaxInFlight, and a queue of at most MaxQueue requests. A request goes to a parked worker if
// there is one, else to a new worker while the pool may grow, else to the queue, else it is
// shed: answered contracts.ErrOverloaded at once. Workers park for workerIdle before they exit.
//
// Workers rather than a goroutine per request: a busy worker takes the next queued request
// without parking, and its replies leave in the same socket writes, which on a loaded
// endpoint saves a goroutine start and a thread wake-up per request (about a fifth of the
// process CPU per request in cmd/moabench).
//
// A request's deadline is fixed when it arrives, so the time it waits in the queue counts
// against it; a worker that takes a request whose deadline has passed does not run it (its
// caller stopped waiting) and answers deadline_exceeded.

// workerIdle is how long a worker waits for work before it exits.
const workerIdle = 2 * time.Second

// workerIdleFor changes workerIdle for one endpoint (tests make workers come and go fast).
func workerIdleFor(d time.Duration) EndpointOption { return func(e *endpoint) { e.idleFor = d } }

// job is one request waiting for, or held by, a worker.
type job struct {
	msg      Msg // in the job, not beside it: one allocation per request, not two
	reply    string
	deadline time.Time
}

// dispatch runs on the endpoint subscription's goroutine: it must not block.
func (s *Service) dispatch(e *endpoint, req micro.Request) {
	j := &job{msg: Msg{Kind: KindRequest, Service: s.spec.Name, Name: e.name, Subject: req.Subject(),
		Header: nats.Header(req.Headers()), Data: req.Data(), spanName: e.spanName}, reply: req.Reply()}
	if j.msg.Header == nil {
		j.msg.Header = nats.Header{}
	}
	j.deadline = time.Now().Add(requestTimeout(j.msg.Header, e.timeout))
	if !s.admit() {
		s.respond(j.reply, nil, contracts.ErrUnavailable.Msg("%s is stopping", s.spec.Name))
		return
	}
	if e.idle.Load() > 0 {
		select {
		case e.jobs <- j:
			s.ensureWorker(e)
			return
		default:
		}
	}
	if e.addWorker() {
		go s.work(e, j)
		return
	}
	select {
	case e.jobs <- j:
		s.ensureWorker(e)
		return
	default:
	}
	s.release()
	e.shed.Add(1)
	s.rt.metrics.shed.WithLabelValues(s.spec.Name, e.name).Inc()
	s.respond(j.reply, nil, contracts.ErrOverloaded.Msg("%s has %d requests in flight and %d waiting", e.subject, e.maxInFlight, e.maxQueue))
}

// addWorker reserves a place for a new worker; false when the pool is full.
func (e *endpoint) addWorker() bool {
	for {
		n := e.workers.Load()
		if n >= int64(e.maxInFlight) {
			return false
		}
		if e.workers.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// ensureWorker starts a worker if a job was queued while the last one was exiting. Together
// with the re-check in work's exit path, no queued job is left without a worker: either this
// sees the exiting worker gone, or that worker sees the job.
func (s *Service) ensureWorker(e *endpoint) {
	if e.workers.Load() == 0 && e.addWorker() {
		go s.work(e, nil)
	}
}

// work runs j, then queued jobs, until it has been idle for workerIdle or the service stops.
func (s *Service) work(e *endpoint, j *job) {
	idle := time.NewTimer(e.idleFor)
	defer idle.Stop()
	for {
		if j != nil {
			s.process(e, j)
			j = nil
		}
		select {
		case j = <-e.jobs:
			continue
		default:
		}
		idle.Reset(e.idleFor)
		e.idle.Add(1)
		select {
		case j = <-e.jobs:
			e.idle.Add(-1)
			continue
		case <-idle.C:
		case <-s.quit:
		}
		e.idle.Add(-1)
		e.workers.Add(-1)
		select {
		case j = <-e.jobs: // queued while we were leaving: stay
			e.workers.Add(1)
		default:
			return
		}
	}
}

// process runs one job's handler, or drops it when its deadline passed in the queue.
func (s *Service) process(e *endpoint, j *job) {
	defer s.release()
	if !time.Now().Before(j.deadline) {
		e.expired.Add(1)
		s.rm.expired.WithLabelValues(s.spec.Name, e.name).Inc()
		s.respond(j.reply, nil, contracts.ErrTimeout.Msg("%s: the request waited in the queue past its deadline", e.subject))
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
	s.respond(j.reply, out, err)
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
