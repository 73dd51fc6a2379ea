package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Instances of a service start together, often with their NATS cluster: an orchestrator starts
// every replica at once, and a cluster that just started is still electing its meta leader,
// placing peers and reporting resources. The JetStream API then times out or answers "not
// available" for a while; those answers mean "not yet", not "no", so a start-up step that gets
// one waits and tries again rather than failing the start (and an orchestrator crash-looping
// into the same race). One step is bounded by the start-up patience: a server unavailable for
// that long is down, and the start says so.

// DefaultStartupPatience is how long one start-up step (a stream, a consumer, a bucket) keeps
// retrying a JetStream API that is busy or not ready; see [WithStartupPatience].
const DefaultStartupPatience = time.Minute

// setupAttemptTimeout bounds one attempt of a step: longer than nats.go's 5 s default API
// timeout, because a meta leader placing sixteen R3 streams at once answers late, not never.
const setupAttemptTimeout = 10 * time.Second

// The pause between attempts grows from setupFirstPause to setupMaxPause: short enough that an
// election that ends in a second costs a second, long enough not to flood a busy meta leader.
const (
	setupFirstPause = 50 * time.Millisecond
	setupMaxPause   = 2 * time.Second
)

// WithStartupPatience sets how long each start-up step ([Runtime.Setup]: stream, consumer and
// bucket creation) retries a JetStream API that is busy or not ready before the start fails
// (default [DefaultStartupPatience]; d <= 0 keeps the default). A context deadline that ends
// earlier still wins.
func WithStartupPatience(d time.Duration) Option {
	return func(r *Runtime) {
		if d > 0 {
			r.patience = d
		}
	}
}

// StartupPatience returns the runtime's start-up patience.
func (r *Runtime) StartupPatience() time.Duration {
	if r.patience > 0 {
		return r.patience
	}
	return DefaultStartupPatience
}

// Setup runs fn, one idempotent start-up step named what ("stream BILLING"), until it
// succeeds. An attempt that fails because the JetStream API is busy or not ready (see
// [TransientSetupError]) is retried after a pause growing from 50 ms to 2 s, each attempt with
// its own 10 s deadline, for at most the runtime's start-up patience (or until ctx ends, if
// sooner), with a WARN per retry naming the attempt. Any other error returns at once: a
// refused configuration does not get better by asking again.
func (r *Runtime) Setup(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	patience := r.StartupPatience()
	ctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	start := time.Now()
	pause := setupFirstPause
	for attempt := 1; ; attempt++ {
		actx, acancel := context.WithTimeout(ctx, setupAttemptTimeout)
		err := fn(actx)
		acancel()
		switch {
		case err == nil:
			if attempt > 1 {
				r.log.Info("start-up step done after retries", "step", what, "attempts", attempt, "took", roundDur(time.Since(start)))
			}
			return nil
		case !TransientSetupError(err):
			return err
		case ctx.Err() != nil:
			return r.setupGaveUp(ctx, what, attempt, start, err)
		}
		r.log.Warn("start-up step found JetStream (or its store) busy or not ready; retrying", "step", what, "attempt", attempt,
			"retry_in", pause, "error", err)
		select {
		case <-ctx.Done():
			return r.setupGaveUp(ctx, what, attempt, start, err)
		case <-time.After(pause):
		}
		pause = min(2*pause, setupMaxPause)
	}
}

// setupGaveUp is the error of a step whose patience (or ctx) ended; it wraps the last attempt's
// error, so errors.Is still finds its cause.
func (r *Runtime) setupGaveUp(ctx context.Context, what string, attempts int, start time.Time, last error) error {
	if errors.Is(context.Cause(ctx), context.Canceled) {
		return fmt.Errorf("bus: %s: start canceled after %d attempts: %w", what, attempts, last)
	}
	return fmt.Errorf("bus: %s: still busy or not ready after %d attempts in %v (start-up patience %v): %w",
		what, attempts, roundDur(time.Since(start)), r.StartupPatience(), last)
}

// TransientSetupError reports whether err is a JetStream API that is busy or not ready, as
// opposed to a request it refused: one attempt's deadline (or nats.go's API timeout) passing,
// nobody answering the API subject yet, a connection between servers, and the server saying
// JetStream or its cluster is temporarily unavailable. The JetStream error codes are the
// nats-server's (server/errors.json):
//
//   - 10008 JSClusterNotAvailErr: no meta leader yet, or the meta layer is catching up;
//   - 10009 JSClusterNotLeaderErr: the request reached a server that just lost leadership;
//   - 10005 JSClusterNoPeersErrF: no suitable peers for placement: the peers have not joined
//     or not reported yet;
//   - 10023 JSInsufficientResourcesErr: the meta leader has no resource report of its peers yet;
//   - 10049 JSStreamCreateErrF and 10012 JSConsumerCreateErrF: the asset's group failed to come
//     up on its peers (a leader election inside the new group timing out, mostly);
//   - 10118 JSStreamOfflineErr and 10119 JSConsumerOfflineErr: the asset is being recovered;
//   - 10076 and 10039: JetStream not (yet) enabled, as a server that is still starting says.
//
// A real refusal (an invalid or conflicting configuration, a permission) has its own code and
// is not retried.
//
// A step marks the errors only it can classify (its database's) with [Transient].
func TransientSetupError(err error) bool {
	if err == nil {
		return false
	}
	var marked transientError
	if errors.As(err, &marked) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case 10008, 10009, 10005, 10023, 10049, 10012, 10118, 10119,
			jetstream.JSErrCodeJetStreamNotEnabled, jetstream.JSErrCodeJetStreamNotEnabledForAccount:
			return true
		}
	}
	return false
}

// Transient marks err as a "not yet" answer of a start-up step, for errors only the step can
// classify, such as its database's (a connection dropped while replicas migrate at once):
// [Runtime.Setup] retries it like a busy JetStream API. Transient(nil) is nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return transientError{err}
}

type transientError struct{ err error }

func (e transientError) Error() string { return e.err.Error() }
func (e transientError) Unwrap() error { return e.err }
