// Package domain holds the subscription saga's rules: the guarded state machine (which event
// may move a subscription from which state to which), what each transition emits, and the
// pro-rata refund. It does no I/O, so every rule is table-tested.
package domain

import (
	"time"

	"github.com/moa-run/moa/contracts"
)

// State is a state of the saga.
type State = contracts.SubscriptionState

// The states, re-exported for brevity.
const (
	Pending    = contracts.SubPending
	Active     = contracts.SubActive
	Cancelling = contracts.SubCancelling
	Cancelled  = contracts.SubCancelled
)

// Reasons a subscription ends as CANCELLED.
const (
	ReasonSeatUnavailable = "seat_unavailable"
	ReasonPaymentFailed   = "payment_failed"
	ReasonByConsumer      = "by_consumer"
	ReasonTimedOut        = "timed_out"
)

// Subscription is the saga's aggregate.
type Subscription struct {
	ID             string
	ProductID      string
	ConsumerID     string
	SellerID       string
	State          State
	PriceMinor     int64
	Currency       string
	Period         contracts.BillingPeriod
	Reason         string
	IdempotencyKey string
	// ChargedMinor is what billing reported charged (payment_succeeded).
	ChargedMinor int64
	// RefundMinor is the refund asked for when cancelling, then what billing refunded.
	RefundMinor int64
	// WasActive is set once the subscription has been ACTIVE (a later cancel is churn).
	WasActive bool
	// RefundDone and SeatReleased are the two halves a cancellation waits for.
	RefundDone   bool
	SeatReleased bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
	ActivatedAt  *time.Time
	ActiveUntil  *time.Time
	// Nudges counts the sweeper's re-emissions of the current step.
	Nudges int
}

// InProgress reports whether the saga is still running (not ACTIVE or CANCELLED).
func (s Subscription) InProgress() bool { return s.State == Pending || s.State == Cancelling }

// Terminal is what a transition into ACTIVE or CANCELLED tells the other services (the
// terminal events' body): what was charged on activation, what was refunded on cancellation.
func (s Subscription) Terminal() Terminal {
	amount := s.ChargedMinor
	if s.State == Cancelled {
		amount = s.RefundMinor
	}
	return Terminal{
		SubscriptionID: s.ID, ProductID: s.ProductID, ConsumerID: s.ConsumerID, SellerID: s.SellerID,
		State: s.State, AmountMinor: amount, Currency: s.Currency, Reason: s.Reason, WasActive: s.WasActive,
	}
}

// Terminal is a saga's end: emitted as subscription.activated or subscription.cancelled, and
// counted by the dashboard when it comes back.
type Terminal struct {
	SubscriptionID string
	ProductID      string
	ConsumerID     string
	SellerID       string
	State          State
	AmountMinor    int64 // charged (activated) or refunded (cancelled)
	Currency       string
	Reason         string
	WasActive      bool      // cancelled after having been active (churn)
	At             time.Time // when the event occurred, as the dashboard dates it; zero when not read from an event
}

// Payment is a charge or a refund billing reported, as the dashboard counts it.
type Payment struct {
	SubscriptionID string
	ProductID      string
	AmountMinor    int64
	Currency       string
	At             time.Time // when billing's event occurred
}

// Product is what a subscription snapshots of its product when it starts.
type Product struct {
	ID         string
	SellerID   string
	PriceMinor int64
	Currency   string
	Period     contracts.BillingPeriod
}
