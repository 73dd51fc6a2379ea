// Package app holds the subscription service's use cases: subscribe and cancel (commands that
// start or compensate a saga), the saga steps driven by other services' events, the sweeper
// that drives stuck sagas on, the dashboard projection and the queries. Storage and the
// catalog are interfaces implemented in adapters. The use cases speak domain types: contracts'
// wire types (endpoint requests and responses, event bodies) are mapped in ports (what comes
// in) and adapters (what goes out, and what the catalog answers).
package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/subscription/domain"
)

// Store keeps subscriptions. Every write that changes a saga also records the events that
// change emits, in the same transaction: the transaction of the inbox when ctx carries one
// (a saga step consumed from a stream), else its own.
type Store interface {
	// Create inserts a PENDING subscription and emits subscription.requested. It returns
	// contracts.ErrAlreadyExists when the consumer already has a live subscription to the
	// product, and the existing subscription (existing true) when the idempotency key was used.
	Create(ctx context.Context, s domain.Subscription) (sub domain.Subscription, existing bool, err error)
	Get(ctx context.Context, id string) (domain.Subscription, error)
	ByIdempotencyKey(ctx context.Context, consumerID, key string) (domain.Subscription, error)
	ByConsumer(ctx context.Context, consumerID string, limit int) ([]domain.Subscription, error)
	// ActiveConsumers lists the consumers with an ACTIVE subscription to product, and the
	// sellers named by the product's subscriptions (to authorise the caller).
	ActiveConsumers(ctx context.Context, productID string) (consumers, sellers []string, err error)
	// Transition locks subscription id, runs decide on it and, when decide returns no error,
	// saves the outcome guarded by the state decide saw and emits what the outcome says.
	// contracts.ErrNotFound when there is no such subscription.
	Transition(ctx context.Context, id string, decide func(domain.Subscription) (domain.Outcome, error)) (domain.Outcome, error)
	// Sweep locks up to limit in-progress subscriptions not nudged since before (skipping those
	// another sweeper holds) and hands each to fn: an outcome with Emit set is saved and
	// emitted like a transition, nudge re-emits the saga's current step.
	Sweep(ctx context.Context, before time.Time, limit int, fn func(domain.Subscription) (out domain.Outcome, nudge bool, err error)) (SweepReport, error)
	// Stuck counts the in-progress subscriptions whose state has not changed since before and
	// lists up to limit of them, oldest first.
	Stuck(ctx context.Context, before time.Time, limit int) (int64, []domain.Subscription, error)
}

// Projection is the dashboard read model. Each Apply counts its fact once per subscription:
// repeating one (a re-emitted step, a replay) changes nothing.
type Projection interface {
	Activated(ctx context.Context, t domain.Terminal) error
	Cancelled(ctx context.Context, t domain.Terminal) error
	Charged(ctx context.Context, p domain.Payment) error
	Refunded(ctx context.Context, p domain.Payment) error
	// BySeller returns a seller's rows, by product id.
	BySeller(ctx context.Context, sellerID string) ([]DashboardRow, error)
	// Rebuild empties the projection and replays every event of the streams it is fed by.
	Rebuild(ctx context.Context) (Rebuilt, error)
}

// DashboardRow is the seller's dashboard for one product.
type DashboardRow struct {
	ProductID         string
	SellerID          string
	ActiveSubscribers int64
	RevenueMinor      int64 // charged minus refunded
	Currency          string
	Churned           int64          // cancelled after having been active
	Failed            int64          // never became active
	Days              []DashboardDay // the last DashboardDays days that had a fact, oldest first
}

// DashboardDays is how far back the dashboard's days reach.
const DashboardDays = 30

// DashboardDay is what one product gained and lost on one day (UTC), by when the events occurred.
type DashboardDay struct {
	Day               time.Time // midnight UTC
	Subscribed        int64     // became active
	Churned           int64
	Failed            int64
	ChargedMinor      int64
	RefundedMinor     int64
	ActiveSubscribers int64 // at the end of the day
}

// Rebuilt is what a rebuild of the projection did.
type Rebuilt struct {
	Events   int64 // events replayed from the streams
	Products int64 // dashboard rows after the rebuild
}

// Catalog is what subscribe needs to know about a product.
type Catalog interface {
	// Product returns the product, or contracts.ErrNotFound.
	Product(ctx context.Context, id string) (domain.Product, error)
}

// Metrics are the saga's counters; adapters back them with Prometheus.
type Metrics interface {
	// Started counts a saga begun (a new PENDING subscription, not an idempotent repeat).
	Started()
	// Moved counts a committed state change of a saga: from → to, with the subscription's
	// reason once it has one (domain.Reason*).
	// Both count once ctx's transaction commits (outbox.AfterCommit): a saga event whose
	// transaction rolls back is redelivered and would otherwise count twice.
	Moved(ctx context.Context, from, to domain.State, reason string)
	IllegalTransition(ctx context.Context, trigger domain.Trigger)
	Nudged(state domain.State)
	TimedOut()
	Stuck(n int64)
}

// SweepReport is what one sweep did.
type SweepReport struct {
	Nudged   int
	TimedOut int
}

// Config holds the saga's deadlines.
type Config struct {
	// StuckAfter is how long a saga may stay in PENDING or CANCELLING before the sweeper
	// re-emits its current step (and how long between two re-emissions).
	StuckAfter time.Duration
	// TimeoutAfter is how long a PENDING saga may run in all before it is compensated
	// (CANCELLING with reason timed_out).
	TimeoutAfter time.Duration
	// SweepBatch bounds the sagas one sweep handles.
	SweepBatch int
}

// Actor is the verified caller.
type Actor struct {
	UserID string
	Role   contracts.Role
}

// App is the subscription service's application service.
type App struct {
	store   Store
	proj    Projection
	catalog Catalog
	metrics Metrics
	cfg     Config
	newID   func() string
	now     func() time.Time
	log     *slog.Logger
}

// New wires the use cases.
func New(store Store, proj Projection, catalog Catalog, metrics Metrics, cfg Config, newID func() string, log *slog.Logger) *App {
	if cfg.SweepBatch <= 0 {
		cfg.SweepBatch = 100
	}
	return &App{store: store, proj: proj, catalog: catalog, metrics: metrics, cfg: cfg, newID: newID,
		now: func() time.Time { return time.Now().UTC() }, log: log}
}

// Config returns the saga's deadlines.
func (a *App) Config() Config { return a.cfg }
