package adapters

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus/outbox"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/billing/app"
	"github.com/moa-run/moa/services/billing/domain"
)

// Source is the emitting service named in the envelopes.
const Source = "billing"

// Store is app.Store on PostgreSQL.
type Store struct{ pool *pgxpool.Pool }

var _ app.Store = (*Store)(nil)

// NewStore returns the store on pool (migrated, with the outbox tables).
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const columns = `id, subscription_id, step, product_id, consumer_id, seller_id, amount_minor, currency, status,
	provider_ref, failure_code, attempts, created_at, updated_at`

func scan(row pgx.Row) (domain.Payment, error) {
	var p domain.Payment
	err := row.Scan(&p.ID, &p.SubscriptionID, &p.Step, &p.ProductID, &p.ConsumerID, &p.SellerID, &p.AmountMinor,
		&p.Currency, &p.Status, &p.ProviderRef, &p.FailureCode, &p.Attempts, &p.CreatedAt, &p.UpdatedAt)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// inTx runs fn in the inbox's transaction when ctx has one, else in its own.
func (st *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if tx := outbox.Tx(ctx); tx != nil {
		return fn(tx)
	}
	return outbox.Transact(ctx, st.pool, func(ctx context.Context, tx pgx.Tx) error { return fn(tx) })
}

// Lock takes the saga's transaction-scoped advisory lock (inbox). Outside an inbox it has no
// transaction to live in and does nothing.
func (st *Store) Lock(ctx context.Context, subscriptionID string) error {
	tx := outbox.Tx(ctx)
	if tx == nil {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('billing:' || $1, 0))`, subscriptionID)
	return err
}

// Begin records the step or counts an attempt on it, in its own committed transaction.
func (st *Store) Begin(ctx context.Context, p domain.Payment) (domain.Payment, error) {
	var prior domain.Payment
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO payments (id, subscription_id, step, product_id, consumer_id, seller_id,
			amount_minor, currency, status, provider_ref, failure_code, attempts, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12)
			ON CONFLICT ON CONSTRAINT payments_one_per_step DO NOTHING`,
			p.ID, p.SubscriptionID, p.Step, p.ProductID, p.ConsumerID, p.SellerID, p.AmountMinor, p.Currency, p.Status,
			p.ProviderRef, p.FailureCode, p.CreatedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			prior = p
			prior.Attempts = 0
			return nil
		}
		if prior, err = scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM payments WHERE subscription_id = $1 AND step = $2 FOR UPDATE`,
			p.SubscriptionID, p.Step)); err != nil {
			return err
		}
		if prior.Settled() {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE payments SET attempts = attempts + 1, updated_at = now() WHERE id = $1`, prior.ID)
		return err
	})
	if err != nil {
		return domain.Payment{}, fmt.Errorf("billing: begin %s %s: %w", p.Step, p.SubscriptionID, err)
	}
	return prior, nil
}

// MarkUnknown records an unanswered provider call, in its own transaction.
func (st *Store) MarkUnknown(ctx context.Context, id string) error {
	_, err := st.pool.Exec(ctx, `UPDATE payments SET status = 'UNKNOWN', updated_at = now() WHERE id = $1 AND status = 'PENDING'`, id)
	return err
}

// ClaimCharge records the void charge unless the saga has a charge, and returns the charge.
func (st *Store) ClaimCharge(ctx context.Context, void domain.Payment) (domain.Payment, error) {
	var cur domain.Payment
	err := st.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO payments (id, subscription_id, step, product_id, consumer_id, seller_id,
			amount_minor, currency, status, failure_code, created_at, updated_at)
			VALUES ($1, $2, 'charge', $3, $4, $5, 0, $6, $7, $8, $9, $9)
			ON CONFLICT ON CONSTRAINT payments_one_per_step DO NOTHING`,
			void.ID, void.SubscriptionID, void.ProductID, void.ConsumerID, void.SellerID, void.Currency, void.Status,
			void.FailureCode, void.CreatedAt)
		if err != nil {
			return err
		}
		cur, err = scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM payments WHERE subscription_id = $1 AND step = 'charge'`, void.SubscriptionID))
		return err
	})
	return cur, err
}

// Settle writes the final status, unless the step is settled already, and emits its event.
func (st *Store) Settle(ctx context.Context, p domain.Payment) error {
	return st.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE payments SET status = $2, provider_ref = $3, failure_code = $4, updated_at = now()
			WHERE id = $1 AND status IN ('PENDING', 'UNKNOWN')`, p.ID, p.Status, p.ProviderRef, p.FailureCode)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			// Only possible without the saga lock (outside an inbox): someone else settled it.
			return contracts.ErrConflict.Msg("payment %s was settled meanwhile", p.ID)
		}
		return emit(ctx, tx, p)
	})
}

// Reemit emits a settled step's event again.
func (st *Store) Reemit(ctx context.Context, p domain.Payment) error {
	return st.inTx(ctx, func(tx pgx.Tx) error { return emit(ctx, tx, p) })
}

func emit(ctx context.Context, tx pgx.Tx, p domain.Payment) error {
	var err error
	switch p.Outcome() {
	case domain.PaymentSucceeded:
		_, err = outbox.Emit(ctx, tx, Source, contracts.PaymentSucceededEvent, p.SubscriptionID, eventData(p))
	case domain.PaymentFailed:
		_, err = outbox.Emit(ctx, tx, Source, contracts.PaymentFailedEvent, p.SubscriptionID, eventData(p))
	case domain.RefundIssued:
		_, err = outbox.Emit(ctx, tx, Source, contracts.RefundIssuedEvent, p.SubscriptionID, eventData(p))
	}
	return err
}

// eventData is the body of a settled step's event.
func eventData(p domain.Payment) contracts.PaymentData {
	return contracts.PaymentData{SubscriptionID: p.SubscriptionID, PaymentID: p.ID, ProductID: p.ProductID,
		SellerID: p.SellerID, AmountMinor: p.AmountMinor, Currency: p.Currency, FailureCode: p.FailureCode}
}

// List returns a subscription's steps, charge first.
func (st *Store) List(ctx context.Context, subscriptionID string) ([]domain.Payment, error) {
	rows, err := st.pool.Query(ctx, `SELECT `+columns+` FROM payments WHERE subscription_id = $1 ORDER BY created_at, step`, subscriptionID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []domain.Payment{}
	for rows.Next() {
		p, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
