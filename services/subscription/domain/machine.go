package domain

import (
	"fmt"
	"math/big"
	"time"

	"github.com/moa-run/moa/contracts"
)

// Trigger is what may move a subscription: a saga event from another service, the consumer's
// cancel, or the sweeper's timeout.
type Trigger string

// The triggers.
const (
	OnSeatUnavailable  Trigger = "seat_unavailable"
	OnPaymentSucceeded Trigger = "payment_succeeded"
	OnPaymentFailed    Trigger = "payment_failed"
	OnRefundIssued     Trigger = "refund_issued"
	OnSeatReleased     Trigger = "seat_released"
	OnCancel           Trigger = "cancel"  // the consumer cancels an ACTIVE subscription
	OnTimeout          Trigger = "timeout" // the sweeper gives up on a PENDING saga
)

// Input is one trigger with what it carries.
type Input struct {
	Trigger     Trigger
	At          time.Time
	AmountMinor int64 // charged (payment_succeeded) or refunded (refund_issued)
}

// Emit is the event a transition produces, besides the state change itself.
type Emit int

// What a transition emits.
const (
	EmitNone            Emit = iota
	EmitActivated            // subscription.activated (terminal)
	EmitCancelled            // subscription.cancelled (terminal)
	EmitCancelRequested      // subscription.cancel_requested (refund and seat release)
)

// Outcome is a legal transition: the subscription after it and what to emit.
type Outcome struct {
	Next Subscription
	Emit Emit
}

// Apply is the guarded state machine. It returns contracts.ErrIllegalTransition, and changes
// nothing, for any trigger the current state does not accept: a duplicate or late event, a
// cancel of a subscription that is not active. Callers log the rejection and never apply it
// (and count it, unless it is an [Echo]).
//
// A saga is CANCELLED only once its compensation is done: a seat the catalog still holds keeps
// it CANCELLING, where the sweeper keeps asking for the seat (subscription.cancel_requested)
// and the operator sees it as stuck.
//
//	PENDING    + seat_unavailable  → CANCELLED  (seat_unavailable; nothing was charged or held)
//	PENDING    + payment_succeeded → ACTIVE
//	PENDING    + payment_failed    → CANCELLING (payment_failed; nothing to refund, the catalog
//	                                 releases the seat), or CANCELLED if it already did
//	PENDING    + seat_released     → PENDING    (the release of a failed payment's seat overtook
//	                                 payment_failed: recorded for it)
//	PENDING    + timeout           → CANCELLING (timed_out; refund whatever was charged)
//	ACTIVE     + cancel            → CANCELLING (by_consumer; pro-rata refund)
//	CANCELLING + refund_issued     → CANCELLING, or CANCELLED once the seat is released too
//	CANCELLING + seat_released     → CANCELLING, or CANCELLED once the refund is issued too
func Apply(s Subscription, in Input) (Outcome, error) {
	n := s
	n.UpdatedAt = in.At
	switch {
	case s.State == Pending && in.Trigger == OnSeatUnavailable:
		n.State, n.Reason = Cancelled, ReasonSeatUnavailable
		return Outcome{n, EmitCancelled}, nil
	case s.State == Pending && in.Trigger == OnPaymentSucceeded:
		n.State, n.WasActive, n.ChargedMinor = Active, true, in.AmountMinor
		at := in.At
		until := PeriodEnd(at, s.Period)
		n.ActivatedAt, n.ActiveUntil = &at, &until
		return Outcome{n, EmitActivated}, nil
	case s.State == Pending && in.Trigger == OnPaymentFailed:
		// Nothing was charged, so the refund half is done; the seat half waits for the
		// catalog's seat_released (it compensates on payment_failed itself).
		n.State, n.Reason, n.Nudges = Cancelling, ReasonPaymentFailed, 0
		n.RefundDone, n.RefundMinor = true, 0
		return settleCancel(n), nil
	case s.State == Pending && in.Trigger == OnSeatReleased && !s.SeatReleased:
		n.SeatReleased = true
		return Outcome{n, EmitNone}, nil
	case s.State == Pending && in.Trigger == OnTimeout:
		// The charge may still be in flight: ask for the whole price back; billing bounds the
		// refund by what it actually charged, and voids a charge it has not made yet.
		n.State, n.Reason, n.RefundMinor, n.Nudges = Cancelling, ReasonTimedOut, s.PriceMinor, 0
		return Outcome{n, EmitCancelRequested}, nil
	case s.State == Active && in.Trigger == OnCancel:
		n.State, n.Reason, n.Nudges = Cancelling, ReasonByConsumer, 0
		n.RefundMinor = s.ChargedMinor
		if s.ActivatedAt != nil && s.ActiveUntil != nil {
			n.RefundMinor = ProRataRefund(s.ChargedMinor, *s.ActivatedAt, *s.ActiveUntil, in.At)
		}
		return Outcome{n, EmitCancelRequested}, nil
	case s.State == Cancelling && in.Trigger == OnRefundIssued && !s.RefundDone:
		n.RefundDone, n.RefundMinor = true, in.AmountMinor
		return settleCancel(n), nil
	case s.State == Cancelling && in.Trigger == OnSeatReleased && !s.SeatReleased:
		n.SeatReleased = true
		return settleCancel(n), nil
	}
	return Outcome{Next: s}, contracts.ErrIllegalTransition.Msg("subscription %s is %s: %s does not apply", s.ID, s.State, describe(s, in.Trigger))
}

// Echo reports whether trigger t only repeats a half of a cancellation that s has already
// recorded: the answers to a compensation the sweeper asked for again (billing refunds nothing
// twice but says refund_issued again, the catalog says seat_released again). Apply rejects it
// like any repeated event, but it is the saga working as designed, not an illegal transition.
func Echo(s Subscription, t Trigger) bool {
	return (t == OnRefundIssued && s.RefundDone) || (t == OnSeatReleased && s.SeatReleased)
}

func settleCancel(n Subscription) Outcome {
	if n.RefundDone && n.SeatReleased {
		n.State = Cancelled
		return Outcome{n, EmitCancelled}
	}
	return Outcome{n, EmitNone}
}

func describe(s Subscription, t Trigger) string {
	switch {
	case t == OnRefundIssued && s.RefundDone:
		return "the refund was already recorded"
	case t == OnSeatReleased && s.SeatReleased:
		return "the seat release was already recorded"
	}
	return fmt.Sprintf("trigger %s", t)
}

// PeriodEnd is the end of the billing period that starts at from.
func PeriodEnd(from time.Time, p contracts.BillingPeriod) time.Time {
	switch p {
	case contracts.BillingWeekly:
		return from.AddDate(0, 0, 7)
	case contracts.BillingQuarterly:
		return from.AddDate(0, 3, 0)
	case contracts.BillingYearly:
		return from.AddDate(1, 0, 0)
	default:
		return from.AddDate(0, 1, 0)
	}
}

// ProRataRefund is the part of charged that pays for the rest of the period [from, until) after
// now, rounded down to a minor unit (the seller keeps the fraction). It is never negative and
// never more than charged.
func ProRataRefund(charged int64, from, until, now time.Time) int64 {
	total := until.Sub(from)
	if charged <= 0 || total <= 0 || !now.Before(until) {
		return 0
	}
	if !now.After(from) {
		return charged
	}
	left := until.Sub(now)
	// charged × left can pass int64 (a large price over a year in nanoseconds).
	r := new(big.Int).Mul(big.NewInt(charged), big.NewInt(int64(left)))
	r.Quo(r, big.NewInt(int64(total)))
	return min(r.Int64(), charged)
}
