package adapters

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/moa-run/moa/bus/outbox"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/catalog/app"
)

// Seat is app.SeatStore on PostgreSQL. It must run inside an inbox transaction (outbox.Tx).
type Seat struct{}

var _ app.SeatStore = Seat{}

// Reasons of seat_unavailable.
const (
	ReasonSoldOut        = "sold_out"
	ReasonProductDeleted = "product_deleted"
)

func seatTx(ctx context.Context) (pgx.Tx, error) {
	tx := outbox.Tx(ctx)
	if tx == nil {
		return nil, errors.New("catalog: seat changes run inside the inbox transaction")
	}
	return tx, nil
}

type reservation struct {
	productID, state, reason, consumerID, sellerID, currency string
	amount                                                   int64
}

func lockReservation(ctx context.Context, tx pgx.Tx, subscriptionID string) (reservation, error) {
	var r reservation
	err := tx.QueryRow(ctx, `SELECT product_id::text, state, reason, consumer_id, seller_id, amount_minor, currency
		FROM seat_reservations WHERE subscription_id = $1 FOR UPDATE`, subscriptionID).
		Scan(&r.productID, &r.state, &r.reason, &r.consumerID, &r.sellerID, &r.amount, &r.currency)
	return r, err
}

func (r reservation) data(subscriptionID string) contracts.SeatData {
	return contracts.SeatData{SubscriptionID: subscriptionID, ProductID: r.productID, Reason: r.reason,
		ConsumerID: r.consumerID, SellerID: r.sellerID, AmountMinor: r.amount, Currency: r.currency}
}

// Reserve claims the subscription's reservation row first, so two deliveries of different
// events for one subscription (a re-emitted request on another replica) serialise on it and
// only the first takes a seat. The seat itself is one guarded UPDATE: it never oversells.
func (Seat) Reserve(ctx context.Context, d app.SeatRequest) (string, error) {
	tx, err := seatTx(ctx)
	if err != nil {
		return "", err
	}
	if contracts.ValidateProductID("product_id", d.ProductID) != nil {
		return "", contracts.ErrValidation.OnField("product_id", "subscription.requested names no valid product")
	}
	tag, err := tx.Exec(ctx, `INSERT INTO seat_reservations (subscription_id, product_id, state, consumer_id, seller_id, amount_minor, currency)
		VALUES ($1, $2, 'reserving', $3, $4, $5, $6) ON CONFLICT (subscription_id) DO NOTHING`,
		d.SubscriptionID, d.ProductID, d.ConsumerID, d.SellerID, d.PriceMinor, d.Currency)
	if err != nil {
		return "", fmt.Errorf("catalog: reserve: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return "", answerAgain(ctx, tx, d.SubscriptionID)
	}
	r := reservation{productID: d.ProductID, consumerID: d.ConsumerID, sellerID: d.SellerID, amount: d.PriceMinor, currency: d.Currency}
	tag, err = tx.Exec(ctx, `UPDATE products SET seats_taken = seats_taken + 1
		WHERE id = $1 AND deleted_at IS NULL AND seats_taken < capacity`, d.ProductID)
	if err != nil {
		return "", fmt.Errorf("catalog: reserve: %w", err)
	}
	if tag.RowsAffected() == 1 {
		r.state = "reserved"
	} else {
		r.state, r.reason = "unavailable", ReasonSoldOut
		var live bool
		err := tx.QueryRow(ctx, `SELECT deleted_at IS NULL FROM products WHERE id = $1`, d.ProductID).Scan(&live)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && !live) {
			r.reason = ReasonProductDeleted
		} else if err != nil {
			return "", fmt.Errorf("catalog: reserve: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE seat_reservations SET state = $2, reason = $3, updated_at = now() WHERE subscription_id = $1`,
		d.SubscriptionID, r.state, r.reason); err != nil {
		return "", fmt.Errorf("catalog: reserve: %w", err)
	}
	if r.state == "reserved" {
		_, err = outbox.Emit(ctx, tx, Source, contracts.SeatReserved, d.SubscriptionID, r.data(d.SubscriptionID))
		return d.ProductID, err
	}
	_, err = outbox.Emit(ctx, tx, Source, contracts.SeatUnavailable, d.SubscriptionID, r.data(d.SubscriptionID))
	return "", err
}

// answerAgain re-emits a known reservation's outcome: a re-emitted request is the sweeper
// asking the saga to move on. A released reservation has nothing left to say.
func answerAgain(ctx context.Context, tx pgx.Tx, subscriptionID string) error {
	r, err := lockReservation(ctx, tx, subscriptionID)
	if err != nil {
		return fmt.Errorf("catalog: reservation: %w", err)
	}
	switch r.state {
	case "reserved":
		_, err = outbox.Emit(ctx, tx, Source, contracts.SeatReserved, subscriptionID, r.data(subscriptionID))
	case "unavailable":
		_, err = outbox.Emit(ctx, tx, Source, contracts.SeatUnavailable, subscriptionID, r.data(subscriptionID))
	}
	return err
}

// Release frees the subscription's seat for a cancellation.
func (Seat) Release(ctx context.Context, subscriptionID, productID string) (string, error) {
	tx, err := seatTx(ctx)
	if err != nil {
		return "", err
	}
	if contracts.ValidateProductID("product_id", productID) != nil {
		return "", contracts.ErrValidation.OnField("product_id", "subscription.cancel_requested names no valid product")
	}
	// A cancellation before any request leaves a tombstone.
	if _, err := tx.Exec(ctx, `INSERT INTO seat_reservations (subscription_id, product_id, state, reason)
		VALUES ($1, $2, 'released', 'cancelled') ON CONFLICT (subscription_id) DO NOTHING`, subscriptionID, productID); err != nil {
		return "", fmt.Errorf("catalog: release: %w", err)
	}
	changed, err := release(ctx, tx, subscriptionID)
	if err != nil {
		return "", err
	}
	_, err = outbox.Emit(ctx, tx, Source, contracts.SeatReleased, subscriptionID,
		contracts.SeatData{SubscriptionID: subscriptionID, ProductID: productID})
	return changed, err
}

// Compensate frees the seat of a saga whose payment failed.
func (Seat) Compensate(ctx context.Context, subscriptionID string) (string, error) {
	tx, err := seatTx(ctx)
	if err != nil {
		return "", err
	}
	changed, err := release(ctx, tx, subscriptionID)
	if err != nil || changed == "" {
		return "", err
	}
	_, err = outbox.Emit(ctx, tx, Source, contracts.SeatReleased, subscriptionID,
		contracts.SeatData{SubscriptionID: subscriptionID, ProductID: changed})
	return changed, err
}

// release gives a held seat back and marks the reservation released; it returns the product
// when a seat was held.
func release(ctx context.Context, tx pgx.Tx, subscriptionID string) (string, error) {
	r, err := lockReservation(ctx, tx, subscriptionID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("catalog: release: %w", err)
	}
	if r.state != "reserved" {
		return "", nil
	}
	if _, err := tx.Exec(ctx, `UPDATE products SET seats_taken = seats_taken - 1 WHERE id = $1 AND seats_taken > 0`, r.productID); err != nil {
		return "", fmt.Errorf("catalog: release: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE seat_reservations SET state = 'released', updated_at = now() WHERE subscription_id = $1`, subscriptionID); err != nil {
		return "", fmt.Errorf("catalog: release: %w", err)
	}
	return r.productID, nil
}
