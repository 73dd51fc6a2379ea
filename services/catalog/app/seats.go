package app

import (
	"context"
	"log/slog"
)

// SeatRequest asks for a seat for a subscription: what subscription.requested carries, the
// saga's snapshot that seat_reserved hands on to billing.
type SeatRequest struct {
	SubscriptionID string
	ProductID      string
	ConsumerID     string
	SellerID       string
	PriceMinor     int64
	Currency       string
}

// SeatStore reserves and releases seats of the subscription saga. Each method runs in the
// inbox transaction of the event it handles and emits its seat event in it, so the seat count,
// the reservation, the event and the inbox row commit together. It returns the product whose
// seats changed ("" when none did), so the caller can drop its cached view.
type SeatStore interface {
	// Reserve takes a seat for the subscription if the product has one free, and emits
	// seat_reserved or seat_unavailable; a known subscription gets its first answer again.
	Reserve(ctx context.Context, r SeatRequest) (changed string, err error)
	// Release gives the subscription's seat back (cancellation) and emits seat_released, also
	// when it held none, so the cancellation can finish; a request arriving later takes none.
	Release(ctx context.Context, subscriptionID, productID string) (changed string, err error)
	// Compensate gives the seat back after a failed payment and emits seat_released if a seat
	// was held.
	Compensate(ctx context.Context, subscriptionID string) (changed string, err error)
}

// Seats is the catalog's part of the subscription saga: it owns capacity.
type Seats struct {
	store SeatStore
	cache Cache
	log   *slog.Logger
}

// NewSeats wires the seat use cases.
func NewSeats(store SeatStore, cache Cache, log *slog.Logger) *Seats {
	return &Seats{store: store, cache: cache, log: log}
}

// Store is the seat store (the handlers run it inside the inbox).
func (s *Seats) Store() SeatStore { return s.store }

// Changed drops the cached views of a product whose seat count changed. Stale seat counts are
// only cosmetic (reservations are decided on the row, never on the cache), so a failure is
// logged and left to the cache TTL.
func (s *Seats) Changed(ctx context.Context, productID string) {
	if productID == "" {
		return
	}
	if err := s.cache.Invalidate(ctx, productID); err != nil {
		s.log.Warn("seat count changed but the cache could not be invalidated; it expires with its TTL", "product", productID, "error", err)
	}
}
