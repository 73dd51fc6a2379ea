package adapters

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus/outbox"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/subscription/app"
	"github.com/moa-run/moa/services/subscription/domain"
)

// Source is the emitting service named in the envelopes.
const Source = "subscription"

// Store is app.Store on PostgreSQL, with the events in the transactional outbox.
type Store struct{ pool *pgxpool.Pool }

var _ app.Store = (*Store)(nil)

// NewStore returns the store on pool (migrated, with the outbox tables).
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const columns = `id, product_id, consumer_id, seller_id, state, price_minor, currency, billing_period, reason,
	coalesce(idempotency_key, ''), charged_minor, refund_minor, was_active, refund_done, seat_released,
	created_at, updated_at, activated_at, active_until, nudges`

func scan(row pgx.Row) (domain.Subscription, error) {
	var s domain.Subscription
	err := row.Scan(&s.ID, &s.ProductID, &s.ConsumerID, &s.SellerID, &s.State, &s.PriceMinor, &s.Currency, &s.Period,
		&s.Reason, &s.IdempotencyKey, &s.ChargedMinor, &s.RefundMinor, &s.WasActive, &s.RefundDone, &s.SeatReleased,
		&s.CreatedAt, &s.UpdatedAt, &s.ActivatedAt, &s.ActiveUntil, &s.Nudges)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, contracts.ErrNotFound.Msg("no such subscription")
	}
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return s, err
}

// inTx runs fn in the inbox's transaction when ctx has one (a consumed saga step: the effect,
// its events and the inbox row commit together), else in a transaction of its own.
func (st *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if tx := outbox.Tx(ctx); tx != nil {
		return fn(tx)
	}
	return outbox.Transact(ctx, st.pool, func(ctx context.Context, tx pgx.Tx) error { return fn(tx) })
}

// Create inserts a PENDING subscription and its subscription.requested event.
func (st *Store) Create(ctx context.Context, s domain.Subscription) (domain.Subscription, bool, error) {
	var key any
	if s.IdempotencyKey != "" {
		key = s.IdempotencyKey
	}
	err := st.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO subscriptions (id, product_id, consumer_id, seller_id, state, price_minor,
			currency, billing_period, idempotency_key, created_at, updated_at, nudged_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10)`,
			s.ID, s.ProductID, s.ConsumerID, s.SellerID, s.State, s.PriceMinor, s.Currency, s.Period, key, s.CreatedAt)
		if err != nil {
			return err
		}
		_, err = outbox.Emit(ctx, tx, Source, contracts.SubscriptionRequested, s.ID, requestedData(s))
		return err
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		switch pe.ConstraintName {
		case "subscriptions_idempotency":
			// A concurrent retry with the same key won.
			got, gerr := st.ByIdempotencyKey(ctx, s.ConsumerID, s.IdempotencyKey)
			return got, true, gerr
		case "subscriptions_live":
			return domain.Subscription{}, false, contracts.ErrAlreadyExists.OnField("product_id", "you already have a subscription to this product")
		}
	}
	if err != nil {
		return domain.Subscription{}, false, fmt.Errorf("subscription: create: %w", err)
	}
	return s, false, nil
}

// Get returns one subscription.
func (st *Store) Get(ctx context.Context, id string) (domain.Subscription, error) {
	return scan(st.pool.QueryRow(ctx, `SELECT `+columns+` FROM subscriptions WHERE id = $1`, id))
}

// ByIdempotencyKey returns the consumer's subscription created with key.
func (st *Store) ByIdempotencyKey(ctx context.Context, consumerID, key string) (domain.Subscription, error) {
	return scan(st.pool.QueryRow(ctx, `SELECT `+columns+` FROM subscriptions WHERE consumer_id = $1 AND idempotency_key = $2`, consumerID, key))
}

// ByConsumer lists a consumer's subscriptions, newest first.
func (st *Store) ByConsumer(ctx context.Context, consumerID string, limit int) ([]domain.Subscription, error) {
	rows, err := st.pool.Query(ctx, `SELECT `+columns+` FROM subscriptions WHERE consumer_id = $1
		ORDER BY created_at DESC, id DESC LIMIT $2`, consumerID, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows)
}

func collect(rows pgx.Rows) ([]domain.Subscription, error) {
	defer rows.Close()
	out := []domain.Subscription{}
	for rows.Next() {
		s, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ActiveConsumers lists the consumers with an ACTIVE subscription to product and the sellers
// its subscriptions name.
func (st *Store) ActiveConsumers(ctx context.Context, productID string) ([]string, []string, error) {
	consumers := []string{}
	rows, err := st.pool.Query(ctx, `SELECT DISTINCT consumer_id FROM subscriptions WHERE product_id = $1 AND state = 'ACTIVE'`, productID)
	if err != nil {
		return nil, nil, err
	}
	consumers, err = pgx.AppendRows(consumers, rows, pgx.RowTo[string])
	if err != nil {
		return nil, nil, err
	}
	rows, err = st.pool.Query(ctx, `SELECT DISTINCT seller_id FROM subscriptions WHERE product_id = $1`, productID)
	if err != nil {
		return nil, nil, err
	}
	sellers, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return consumers, sellers, err
}

// Transition locks the subscription, decides, and saves the outcome guarded by the state it
// was decided on, with its event.
func (st *Store) Transition(ctx context.Context, id string, decide func(domain.Subscription) (domain.Outcome, error)) (domain.Outcome, error) {
	var out domain.Outcome
	err := st.inTx(ctx, func(tx pgx.Tx) error {
		s, err := scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM subscriptions WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if out, err = decide(s); err != nil {
			return err
		}
		return save(ctx, tx, s.State, out)
	})
	return out, err
}

// save writes the outcome of a transition decided on state from, and emits its event. The
// guard makes a transition decided on a stale read change nothing (and fail loudly).
func save(ctx context.Context, tx pgx.Tx, from domain.State, out domain.Outcome) error {
	n := out.Next
	tag, err := tx.Exec(ctx, `UPDATE subscriptions SET state = $2, reason = $3, charged_minor = $4, refund_minor = $5,
		was_active = $6, refund_done = $7, seat_released = $8, updated_at = $9, activated_at = $10, active_until = $11,
		nudges = $12, nudged_at = $9
		WHERE id = $1 AND state = $13`,
		n.ID, n.State, n.Reason, n.ChargedMinor, n.RefundMinor, n.WasActive, n.RefundDone, n.SeatReleased, n.UpdatedAt,
		n.ActivatedAt, n.ActiveUntil, n.Nudges, from)
	if err != nil {
		return fmt.Errorf("subscription: save: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return contracts.ErrIllegalTransition.Msg("subscription %s left state %s before the transition was saved", n.ID, from)
	}
	return emit(ctx, tx, out)
}

func emit(ctx context.Context, tx pgx.Tx, out domain.Outcome) error {
	n := out.Next
	var err error
	switch out.Emit {
	case domain.EmitActivated:
		_, err = outbox.Emit(ctx, tx, Source, contracts.SubscriptionActivated, n.ID, terminalData(n.Terminal()))
	case domain.EmitCancelled:
		_, err = outbox.Emit(ctx, tx, Source, contracts.SubscriptionCancelled, n.ID, terminalData(n.Terminal()))
	case domain.EmitCancelRequested:
		_, err = outbox.Emit(ctx, tx, Source, contracts.SubscriptionCancelRequested, n.ID, cancelRequestedData(n))
	}
	return err
}

// Sweep hands stale in-progress subscriptions to fn and applies what it decides.
func (st *Store) Sweep(ctx context.Context, before time.Time, limit int, fn func(domain.Subscription) (domain.Outcome, bool, error)) (app.SweepReport, error) {
	var rep app.SweepReport
	err := outbox.Transact(ctx, st.pool, func(ctx context.Context, tx pgx.Tx) error {
		rep = app.SweepReport{}
		rows, err := tx.Query(ctx, `SELECT `+columns+` FROM subscriptions
			WHERE state IN ('PENDING', 'CANCELLING') AND nudged_at < $1
			ORDER BY nudged_at LIMIT $2 FOR UPDATE SKIP LOCKED`, before, limit)
		if err != nil {
			return err
		}
		subs, err := collect(rows)
		if err != nil {
			return err
		}
		for _, s := range subs {
			out, nudge, err := fn(s)
			if err != nil {
				return err
			}
			switch {
			case nudge:
				if err := renudge(ctx, tx, s); err != nil {
					return err
				}
				rep.Nudged++
			case out.Emit != domain.EmitNone:
				if err := save(ctx, tx, s.State, out); err != nil {
					return err
				}
				rep.TimedOut++
			}
		}
		return nil
	})
	return rep, err
}

// renudge re-emits the saga's current step: subscription.requested for a PENDING saga (the
// catalog answers a known reservation with its outcome again, billing a known charge with its
// result), subscription.cancel_requested for a CANCELLING one.
func renudge(ctx context.Context, tx pgx.Tx, s domain.Subscription) error {
	if _, err := tx.Exec(ctx, `UPDATE subscriptions SET nudges = nudges + 1, nudged_at = now() WHERE id = $1`, s.ID); err != nil {
		return err
	}
	var err error
	switch s.State {
	case domain.Pending:
		_, err = outbox.Emit(ctx, tx, Source, contracts.SubscriptionRequested, s.ID, requestedData(s))
	case domain.Cancelling:
		_, err = outbox.Emit(ctx, tx, Source, contracts.SubscriptionCancelRequested, s.ID, cancelRequestedData(s))
	}
	return err
}

// Stuck counts and lists in-progress subscriptions unchanged since before.
func (st *Store) Stuck(ctx context.Context, before time.Time, limit int) (int64, []domain.Subscription, error) {
	var n int64
	if err := st.pool.QueryRow(ctx, `SELECT count(*) FROM subscriptions
		WHERE state IN ('PENDING', 'CANCELLING') AND updated_at < $1`, before).Scan(&n); err != nil {
		return 0, nil, err
	}
	if limit <= 0 || n == 0 {
		return n, nil, nil
	}
	rows, err := st.pool.Query(ctx, `SELECT `+columns+` FROM subscriptions
		WHERE state IN ('PENDING', 'CANCELLING') AND updated_at < $1 ORDER BY updated_at, id LIMIT $2`, before, limit)
	if err != nil {
		return 0, nil, err
	}
	subs, err := collect(rows)
	return n, subs, err
}
