// Package domain holds billing's rules: a payment step (the one charge and the one refund of a
// saga), how an unsettled step is resolved without ever charging twice, and how much a refund
// may be. It does no I/O and names no wire type: ports and adapters map payments to the
// contracts' DTOs.
package domain

import (
	"time"

	"github.com/moa-run/moa/contracts"
)

// Step is a payment step of a saga. The store keeps one row per (subscription, step), so a
// saga has at most one charge and one refund whatever is redelivered or re-emitted.
type Step string

// The steps.
const (
	Charge Step = "charge"
	Refund Step = "refund"
)

// Failure codes of a FAILED step.
const (
	FailDeclined = "declined" // the provider said no
	// FailProviderError: the outcome was unknown and the provider had no record of it. Billing
	// no longer gives a step up on that (it resends or voids under the key); steps recorded
	// by earlier versions may still carry it.
	FailProviderError = "provider_error"
	FailCancelled     = "cancelled" // the saga was cancelled before anything was charged
)

// Payment is one step with its state.
type Payment struct {
	ID             string
	SubscriptionID string
	Step           Step
	ProductID      string
	ConsumerID     string
	SellerID       string
	AmountMinor    int64
	Currency       string
	Status         contracts.PaymentStatus
	ProviderRef    string
	FailureCode    string
	// Attempts counts the times a handler set out to resolve the step; it is committed before
	// the provider is called, so after a crash a positive count says "the provider may have it".
	Attempts  int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Settled reports whether the step has its final status.
func (p Payment) Settled() bool {
	return p.Status == contracts.PaymentSucceeded || p.Status == contracts.PaymentFailed
}

// IdempotencyKey is the key the provider knows the step by: one per saga and step.
func (p Payment) IdempotencyKey() string { return string(p.Step) + ":" + p.SubscriptionID }

// Action is what resolving an unsettled step takes.
type Action int

// Actions.
const (
	Done   Action = iota // settled: nothing to do
	Call                 // nobody has asked the provider: ask it
	Lookup               // a previous attempt may have reached the provider: ask what it recorded
	Void                 // close the key at the provider: nothing may be booked under it any more
)

// Next says how to resolve p. A step with an unknown outcome (a provider timeout), or one a
// previous attempt set out on and never settled (a crash), is looked up, never sent again
// blindly.
func Next(p Payment) Action {
	switch {
	case p.Settled():
		return Done
	case p.Status == contracts.PaymentUnknown || p.Attempts > 0:
		return Lookup
	default:
		return Call
	}
}

// AfterLookupMiss says what to do when the provider has no record of a step that may have
// been sent. The request may still be on its way (a provider can book it after the timeout),
// so the step is never given up on a miss: when it may be sent it is sent again under the same
// idempotency key (the provider books a key once, so a late first attempt and the resend are
// one charge or refund); a charge that must not be sent any more (the saga is being
// cancelled) is voided under its key instead, so that a late first attempt cannot land.
func AfterLookupMiss(mayCall bool) Action {
	if mayCall {
		return Call
	}
	return Void
}

// RefundAmount bounds a requested refund by what was charged: nothing when the charge did not
// succeed, never more than it, never negative.
func RefundAmount(requested int64, charge Payment) int64 {
	if charge.Status != contracts.PaymentSucceeded || requested <= 0 {
		return 0
	}
	return min(requested, charge.AmountMinor)
}

// Event is the event a settled step emits.
type Event int

// Events.
const (
	NoEvent Event = iota
	PaymentSucceeded
	PaymentFailed
	RefundIssued
)

// Outcome is the event a settled step emits. A charge voided by a cancellation emits none (the
// cancellation drives the saga), and neither does a refund the provider refused: the saga stays
// CANCELLING, visible as stuck, for an operator.
func (p Payment) Outcome() Event {
	switch {
	case p.Step == Charge && p.Status == contracts.PaymentSucceeded:
		return PaymentSucceeded
	case p.Step == Charge && p.Status == contracts.PaymentFailed && p.FailureCode != FailCancelled:
		return PaymentFailed
	case p.Step == Refund && p.Status == contracts.PaymentSucceeded:
		return RefundIssued
	}
	return NoEvent
}
