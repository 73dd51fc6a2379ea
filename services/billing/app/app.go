// Package app holds billing's use cases: charging a saga when its seat is reserved, refunding
// (or voiding the charge) when it is cancelled, and listing payments. The payment provider and
// the storage are interfaces; adapters implement them (PostgreSQL, the simulated provider).
// It works on domain types and its own (Seat, Cancellation); ports map the events and the
// endpoint's request and response.
package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/moa-run/moa/services/billing/domain"
)

// Money is an amount in minor units of a currency.
type Money struct {
	Minor    int64
	Currency string
}

// Result is a provider's definite answer about one operation.
type Result struct {
	Succeeded   bool
	Ref         string // the provider's reference
	FailureCode string // when not succeeded, e.g. declined
}

// Provider is a payment provider: the seam where a real gateway plugs in. Every operation
// carries an idempotency key (one per saga and step), and the provider books a key at most
// once: a request under a key it has is answered with the first outcome. An error means the
// outcome is unknown (a timeout, a dropped connection): billing then asks Lookup, and when
// the provider has no record yet sends the request again under the same key, since the first
// one may still land.
type Provider interface {
	Charge(ctx context.Context, key string, amount Money) (Result, error)
	Refund(ctx context.Context, key, chargeRef string, amount Money) (Result, error)
	// Lookup returns what the provider recorded under key; found is false when it has nothing.
	Lookup(ctx context.Context, key string) (r Result, found bool, err error)
	// Void closes key: nothing is booked under it afterwards, so a charge still on its way
	// cannot land. It returns what the key holds: the charge when it landed first (Succeeded),
	// else a failure with code cancelled.
	Void(ctx context.Context, key string, amount Money) (Result, error)
}

// Store keeps payment steps. Methods marked "inbox" write in the transaction of the inbox when
// ctx has one, so the step's new state, its event and the inbox row commit together; Begin and
// MarkUnknown commit on their own, before and after the provider call, because their record
// must survive a crash of this process in the middle of the call.
type Store interface {
	// Lock serialises every handler of one saga's payments until the inbox transaction ends
	// (inbox), so two deliveries of different events about one saga (a re-emitted step on
	// another replica) never resolve the same step at once.
	Lock(ctx context.Context, subscriptionID string) error
	// Begin records the step p unless it exists, counts one more attempt on an unsettled step,
	// and returns the step as it was before this attempt (own transaction).
	Begin(ctx context.Context, p domain.Payment) (domain.Payment, error)
	// MarkUnknown records that the provider was asked and did not answer (own transaction).
	MarkUnknown(ctx context.Context, id string) error
	// ClaimCharge records a voided charge for a saga nobody has charged yet, and returns the
	// saga's charge as it is (inbox).
	ClaimCharge(ctx context.Context, void domain.Payment) (domain.Payment, error)
	// Settle writes a step's final status and emits its event (inbox).
	Settle(ctx context.Context, p domain.Payment) error
	// Reemit emits a settled step's event again (inbox): the answer to a re-emitted request.
	Reemit(ctx context.Context, p domain.Payment) error
	List(ctx context.Context, subscriptionID string) ([]domain.Payment, error)
}

// App is billing's application service.
type App struct {
	store    Store
	provider Provider
	newID    func() string
	now      func() time.Time
	log      *slog.Logger
	metrics  Metrics
}

// Metrics count settled payment steps; adapters back them with Prometheus.
type Metrics interface {
	// Settled counts a step whose final status was just written (not a re-emission) in ctx's
	// transaction: counted once that commits (outbox.AfterCommit), so a step rolled back and
	// redelivered counts once.
	Settled(ctx context.Context, p domain.Payment)
}

type noMetrics struct{}

func (noMetrics) Settled(context.Context, domain.Payment) {}

// New wires the use cases. A nil metrics counts nothing.
func New(store Store, provider Provider, metrics Metrics, newID func() string, log *slog.Logger) *App {
	if metrics == nil {
		metrics = noMetrics{}
	}
	return &App{store: store, provider: provider, metrics: metrics, newID: newID, now: func() time.Time { return time.Now().UTC() }, log: log}
}

// settle commits a step's final status and counts it.
func (a *App) settle(ctx context.Context, p domain.Payment) error {
	if err := a.store.Settle(ctx, p); err != nil {
		return err
	}
	a.metrics.Settled(ctx, p)
	return nil
}

// errUnknown marks a provider call whose outcome is unknown; the step is retried (as a lookup).
var errUnknown = errors.New("billing: provider outcome unknown")
