package bus

import (
	"context"
	"log/slog"

	"time"
)

// Job is a service's periodic background work (a janitor, a sweeper, a sender loop): the one
// way a service runs something on a timer. Build it with [Every]; the service host starts it
// after the endpoints and stops it (cancel, then wait) before the outbox relay and the pool.
type Job struct {
	name    string
	every   time.Duration
	fn      func(ctx context.Context) error
	now     bool
	timeout time.Duration
	wake    chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

// Every declares a job that runs fn every interval. An error is logged as a warning and the
// job runs again at the next tick: the work is retried, never given up.
func Every(name string, interval time.Duration, fn func(ctx context.Context) error) *Job {
	return &Job{name: name, every: interval, fn: fn, wake: make(chan struct{}, 1)}
}

// Immediately makes the job run once at start, before its first tick.
func (j *Job) Immediately() *Job { j.now = true; return j }

// Timeout bounds one run of the job.
func (j *Job) Timeout(d time.Duration) *Job { j.timeout = d; return j }

// Name returns the job's name.
func (j *Job) Name() string { return j.name }

// Wake makes the job run now instead of at its next tick (after work for it was queued). It
// never blocks; wakes while a run is going coalesce into one more run.
func (j *Job) Wake() {
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// Start runs the job in the background until Stop; ctx's values are kept, not its
// cancellation.
func (j *Job) Start(ctx context.Context, log *slog.Logger) {
	ctx, j.cancel = context.WithCancel(context.WithoutCancel(ctx))
	j.done = make(chan struct{})
	go j.run(ctx, log)
}

func (j *Job) run(ctx context.Context, log *slog.Logger) {
	defer close(j.done)
	t := time.NewTicker(j.every)
	defer t.Stop()
	run := j.now
	for {
		if run {
			j.once1(ctx, log)
		}
		run = true
		select {
		case <-ctx.Done():
			return
		case <-j.wake:
		case <-t.C:
		}
	}
}

// once1 runs fn once, within the job's timeout if it has one.
func (j *Job) once1(ctx context.Context, log *slog.Logger) {
	rctx, cancel := ctx, context.CancelFunc(func() {})
	if j.timeout > 0 {
		rctx, cancel = context.WithTimeout(ctx, j.timeout)
	}
	defer cancel()
	if err := j.fn(rctx); err != nil && ctx.Err() == nil {
		log.Warn(j.name+" failed; it runs again at the next tick", "job", j.name, "error", err)
	}
}

// Stop tells the job to end (a run in progress sees its context canceled) and waits for it,
// within ctx.
func (j *Job) Stop(ctx context.Context) error {
	if j.cancel == nil {
		return nil
	}
	j.cancel()
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
