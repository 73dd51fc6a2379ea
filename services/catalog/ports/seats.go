package ports

import (
	"context"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/catalog/app"
)

// Seat consumer names.
const (
	SeatRequests     = "catalog_seats"
	SeatCompensation = "catalog_seats_compensation"
)

// seatBackoff and DefaultSeatMaxDeliver let a seat change ride out a few minutes of database
// or NATS outage (40 attempts, about 3 minutes) before it is dead-lettered: a saga step is not
// poison because PostgreSQL restarted. A longer outage does not leak the seat: the subscription
// saga stays CANCELLING until the seat is released and its sweeper asks again.
var seatBackoff = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second}

// DefaultSeatMaxDeliver is the default of the SAGA_MAX_DELIVER setting.
const DefaultSeatMaxDeliver = 40

// SeatConsumers declares the catalog's part of the subscription saga: requests and
// cancellations from the subscription stream, failed payments (compensation) from billing's.
// maxDeliver bounds each seat change's attempts.
func SeatConsumers(ackWait time.Duration, maxDeliver int) []contracts.ConsumerSpec {
	return []contracts.ConsumerSpec{
		{Stream: contracts.StreamSubscription, Durable: SeatRequests,
			FilterSubjects: []string{contracts.SubscriptionRequested.Filter(), contracts.SubscriptionCancelRequested.Filter()},
			AckWait:        ackWait, MaxDeliver: maxDeliver, Backoff: seatBackoff},
		{Stream: contracts.StreamBilling, Durable: SeatCompensation,
			FilterSubjects: []string{contracts.PaymentFailedEvent.Filter()},
			AckWait:        ackWait, MaxDeliver: maxDeliver, Backoff: seatBackoff},
	}
}

type changedKey struct{}

// SeatHandler handles the seat events of consumer durable. Run it with the inbox as consumer
// middleware and [InvalidateAfterCommit] outside it.
func SeatHandler(s *app.Seats, durable string) bus.Handler {
	mark := func(ctx context.Context, productID string, err error) error {
		if p, ok := ctx.Value(changedKey{}).(*string); ok && err == nil {
			*p = productID
		}
		return err
	}
	mux := bus.NewEventMux()
	if durable == SeatCompensation {
		bus.On(mux, contracts.PaymentFailedEvent, func(ctx context.Context, e bus.Event[contracts.PaymentData]) error {
			if err := sameKey(e.Key, e.Data.SubscriptionID); err != nil {
				return err
			}
			p, err := s.Store().Compensate(ctx, e.Data.SubscriptionID)
			return mark(ctx, p, err)
		})
		return mux.Handler()
	}
	bus.On(mux, contracts.SubscriptionRequested, func(ctx context.Context, e bus.Event[contracts.SubscriptionRequestedData]) error {
		if err := sameKey(e.Key, e.Data.SubscriptionID); err != nil {
			return err
		}
		d := e.Data
		p, err := s.Store().Reserve(ctx, app.SeatRequest{SubscriptionID: d.SubscriptionID, ProductID: d.ProductID,
			ConsumerID: d.ConsumerID, SellerID: d.SellerID, PriceMinor: d.PriceMinor, Currency: d.Currency})
		return mark(ctx, p, err)
	})
	bus.On(mux, contracts.SubscriptionCancelRequested, func(ctx context.Context, e bus.Event[contracts.SubscriptionCancelRequestedData]) error {
		if err := sameKey(e.Key, e.Data.SubscriptionID); err != nil {
			return err
		}
		p, err := s.Store().Release(ctx, e.Data.SubscriptionID, e.Data.ProductID)
		return mark(ctx, p, err)
	})
	return mux.Handler()
}

// InvalidateAfterCommit drops the cached views of a product whose seat count a handler
// changed, once the inbox has committed the change (invalidating earlier would let a read in
// between cache the old count again).
func InvalidateAfterCommit(s *app.Seats) bus.Middleware {
	return func(next bus.Handler) bus.Handler {
		return func(ctx context.Context, m *bus.Msg) ([]byte, error) {
			var changed string
			out, err := next(context.WithValue(ctx, changedKey{}, &changed), m)
			if err == nil {
				s.Changed(ctx, changed)
			}
			return out, err
		}
	}
}

func sameKey(key, id string) error {
	if key != id {
		return bus.Permanent(contracts.ErrValidation.Msg("event key %q does not match subscription_id %q", key, id))
	}
	return nil
}
