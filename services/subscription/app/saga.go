package app

import (
	"context"
	"errors"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/subscription/domain"
)

// Step applies one saga event to its subscription. An event the state machine rejects (a
// duplicate that got past the inbox as a re-emission, a late event for a saga that has moved
// on) is logged and counted, never applied, and not an error: redelivering it cannot make it
// legal. An event for a subscription this service does not have is a permanent failure, for
// an operator to look at in the dead letters.
func (a *App) Step(ctx context.Context, id string, in domain.Input) error {
	if in.At.IsZero() {
		in.At = a.now()
	}
	echo := false
	var from domain.State
	out, err := a.store.Transition(ctx, id, func(s domain.Subscription) (domain.Outcome, error) {
		echo = domain.Echo(s, in.Trigger)
		from = s.State
		return domain.Apply(s, in)
	})
	switch {
	case errors.Is(err, contracts.ErrIllegalTransition) && echo:
		// An answer to a compensation the sweeper asked for again: expected, nothing to count.
		a.log.Debug("saga event repeats a recorded compensation step", "subscription", id, "trigger", in.Trigger)
		return nil
	case errors.Is(err, contracts.ErrIllegalTransition):
		a.metrics.IllegalTransition(ctx, in.Trigger)
		a.log.Info("saga event rejected by the state machine", "subscription", id, "trigger", in.Trigger, "reason", err.Error())
		return nil
	case errors.Is(err, contracts.ErrNotFound):
		return contracts.ErrValidation.Msg("saga event %s for unknown subscription %s", in.Trigger, id)
	case err != nil:
		return err
	}
	a.metrics.Moved(ctx, from, out.Next.State, out.Next.Reason)
	a.log.Debug("saga step", "subscription", id, "trigger", in.Trigger, "state", out.Next.State)
	return nil
}

// Sweep drives stuck sagas on: a saga in PENDING or CANCELLING that has not moved for
// StuckAfter gets its current step re-emitted (every consumer of it is idempotent, so this
// only helps), and a PENDING saga older than TimeoutAfter is compensated instead: CANCELLING
// with reason timed_out, which refunds whatever was charged and releases the seat. A
// CANCELLING saga is never given up on: its compensation (subscription.cancel_requested) is
// re-driven until the refund and the seat release are both recorded, however long a service
// or its database was down, so a seat whose release was dead-lettered is still freed.
func (a *App) Sweep(ctx context.Context) (SweepReport, error) {
	now := a.now()
	rep, err := a.store.Sweep(ctx, now.Add(-a.cfg.StuckAfter), a.cfg.SweepBatch,
		func(s domain.Subscription) (domain.Outcome, bool, error) {
			if s.State == domain.Pending && a.cfg.TimeoutAfter > 0 && now.Sub(s.CreatedAt) >= a.cfg.TimeoutAfter {
				out, err := domain.Apply(s, domain.Input{Trigger: domain.OnTimeout, At: now})
				return out, false, err
			}
			a.metrics.Nudged(s.State)
			return domain.Outcome{Next: s}, true, nil
		})
	if err != nil {
		return rep, err
	}
	for range rep.TimedOut {
		a.metrics.TimedOut()
	}
	if rep.Nudged+rep.TimedOut > 0 {
		a.log.Info("sweeper drove stuck sagas on", "nudged", rep.Nudged, "timed_out", rep.TimedOut)
	}
	n, _, err := a.store.Stuck(ctx, now.Add(-a.cfg.StuckAfter), 0)
	if err != nil {
		return rep, err
	}
	a.metrics.Stuck(n)
	return rep, nil
}

// StuckSagas counts the sagas in progress for longer than olderThan (0: StuckAfter) and lists
// up to limit of them (0: 100), oldest first.
func (a *App) StuckSagas(ctx context.Context, olderThan time.Duration, limit int) (int64, []domain.Subscription, error) {
	age := a.cfg.StuckAfter
	if olderThan > 0 {
		age = olderThan
	}
	if limit == 0 {
		limit = 100
	}
	return a.store.Stuck(ctx, a.now().Add(-age), limit)
}
