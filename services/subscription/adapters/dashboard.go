package adapters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus/outbox"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/subscription/app"
	"github.com/moa-run/moa/services/subscription/domain"
)

// Dashboard is the sellers' projection on PostgreSQL. Every fact (a subscription activated,
// cancelled, charged, refunded) is recorded in dashboard_facts before it is counted, so a
// fact arriving twice, under the same event id or a new one, is counted once.
type Dashboard struct {
	pool *pgxpool.Pool
	js   jetstream.JetStream
}

var _ app.Projection = (*Dashboard)(nil)

// NewDashboard returns the projection on pool; js is where Rebuild replays the streams from.
func NewDashboard(pool *pgxpool.Pool, js jetstream.JetStream) *Dashboard {
	return &Dashboard{pool: pool, js: js}
}

// delta is one change to a product's row.
type delta struct {
	productID, sellerID, currency    string
	active, revenue, churned, failed int64
	at                               time.Time // when the fact occurred: its day in dashboard_days
	subscribed, charged, refunded    int64     // the day's counts that the totals net out
}

func (p *Dashboard) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if tx := outbox.Tx(ctx); tx != nil {
		return fn(tx)
	}
	return pgx.BeginFunc(ctx, p.pool, fn)
}

// count applies d once per (subscription, fact).
func count(ctx context.Context, tx pgx.Tx, subscriptionID, fact string, d delta) error {
	tag, err := tx.Exec(ctx, `INSERT INTO dashboard_facts (subscription_id, fact) VALUES ($1, $2) ON CONFLICT DO NOTHING`, subscriptionID, fact)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	_, err = tx.Exec(ctx, `INSERT INTO dashboard AS d (product_id, seller_id, currency, active_subscribers, revenue_minor, churned, failed)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (product_id) DO UPDATE SET
			seller_id = CASE WHEN EXCLUDED.seller_id <> '' THEN EXCLUDED.seller_id ELSE d.seller_id END,
			currency = CASE WHEN EXCLUDED.currency <> '' THEN EXCLUDED.currency ELSE d.currency END,
			active_subscribers = d.active_subscribers + EXCLUDED.active_subscribers,
			revenue_minor = d.revenue_minor + EXCLUDED.revenue_minor,
			churned = d.churned + EXCLUDED.churned,
			failed = d.failed + EXCLUDED.failed`,
		d.productID, d.sellerID, d.currency, d.active, d.revenue, d.churned, d.failed)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	at := d.at
	if at.IsZero() {
		at = time.Now() // not from an event (never so in the service): today rather than year 1
	}
	_, err = tx.Exec(ctx, `INSERT INTO dashboard_days AS d (product_id, day, subscribed, churned, failed, charged_minor, refunded_minor)
		VALUES ($1, $2::date, $3, $4, $5, $6, $7)
		ON CONFLICT (product_id, day) DO UPDATE SET
			subscribed = d.subscribed + EXCLUDED.subscribed,
			churned = d.churned + EXCLUDED.churned,
			failed = d.failed + EXCLUDED.failed,
			charged_minor = d.charged_minor + EXCLUDED.charged_minor,
			refunded_minor = d.refunded_minor + EXCLUDED.refunded_minor`,
		d.productID, at.UTC().Format(time.DateOnly), d.subscribed, d.churned, d.failed, d.charged, d.refunded)
	if err != nil {
		return fmt.Errorf("dashboard days: %w", err)
	}
	return nil
}

func activated(ctx context.Context, tx pgx.Tx, d domain.Terminal) error {
	return count(ctx, tx, d.SubscriptionID, "activated", delta{productID: d.ProductID, sellerID: d.SellerID, currency: d.Currency, active: 1, subscribed: 1, at: d.At})
}

func cancelled(ctx context.Context, tx pgx.Tx, d domain.Terminal) error {
	x := delta{productID: d.ProductID, sellerID: d.SellerID, currency: d.Currency, failed: 1, at: d.At}
	if d.WasActive {
		x = delta{productID: d.ProductID, sellerID: d.SellerID, currency: d.Currency, active: -1, churned: 1, at: d.At}
	}
	return count(ctx, tx, d.SubscriptionID, "cancelled", x)
}

// Revenue comes from billing's events, so it is what was charged and refunded, including a
// saga that timed out after its charge (refunded in full) — never a price taken on trust.
func charged(ctx context.Context, tx pgx.Tx, d domain.Payment) error {
	return count(ctx, tx, d.SubscriptionID, "charged", delta{productID: d.ProductID, currency: d.Currency, revenue: d.AmountMinor, charged: d.AmountMinor, at: d.At})
}

func refunded(ctx context.Context, tx pgx.Tx, d domain.Payment) error {
	return count(ctx, tx, d.SubscriptionID, "refunded", delta{productID: d.ProductID, currency: d.Currency, revenue: -d.AmountMinor, refunded: d.AmountMinor, at: d.At})
}

// Activated counts an activation.
func (p *Dashboard) Activated(ctx context.Context, d domain.Terminal) error {
	return p.inTx(ctx, func(tx pgx.Tx) error { return activated(ctx, tx, d) })
}

// Cancelled counts a cancellation: churn when it had been active, a failure otherwise.
func (p *Dashboard) Cancelled(ctx context.Context, d domain.Terminal) error {
	return p.inTx(ctx, func(tx pgx.Tx) error { return cancelled(ctx, tx, d) })
}

// Charged adds a successful charge to the revenue.
func (p *Dashboard) Charged(ctx context.Context, d domain.Payment) error {
	return p.inTx(ctx, func(tx pgx.Tx) error { return charged(ctx, tx, d) })
}

// Refunded takes a refund off the revenue.
func (p *Dashboard) Refunded(ctx context.Context, d domain.Payment) error {
	return p.inTx(ctx, func(tx pgx.Tx) error { return refunded(ctx, tx, d) })
}

// BySeller returns a seller's rows, by product id, each with its last app.DashboardDays days
// that had a fact. A day's active subscribers are counted back from the product's total:
// the total less what the days after it gained (subscribed − churned). Counting forward from
// the first day row instead would start from 0 where the day rows begin later than the
// product's first subscription (a database counted before dashboard_days existed, or rebuilt
// from streams that no longer hold the oldest events). Both reads are one REPEATABLE READ
// transaction, so the total and the days are of one moment.
func (p *Dashboard) BySeller(ctx context.Context, sellerID string) ([]app.DashboardRow, error) {
	var out []app.DashboardRow
	err := pgx.BeginTxFunc(ctx, p.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		out, err = bySeller(ctx, tx, sellerID)
		return err
	})
	return out, err
}

func bySeller(ctx context.Context, tx pgx.Tx, sellerID string) ([]app.DashboardRow, error) {
	rows, err := tx.Query(ctx, `SELECT product_id, seller_id, active_subscribers, revenue_minor, currency, churned, failed
		FROM dashboard WHERE seller_id = $1 ORDER BY product_id`, sellerID)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (app.DashboardRow, error) {
		var d app.DashboardRow
		err := r.Scan(&d.ProductID, &d.SellerID, &d.ActiveSubscribers, &d.RevenueMinor, &d.Currency, &d.Churned, &d.Failed)
		return d, err
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	byProduct := make(map[string]*app.DashboardRow, len(out))
	for i := range out {
		byProduct[out[i].ProductID] = &out[i]
	}
	// after: what the days later than this one gained, summed over every later day row (also
	// those past the window's end, such as a fact dated in the future).
	rows, err = tx.Query(ctx, `SELECT product_id, day, subscribed, churned, failed, charged_minor, refunded_minor, active_subscribers - after FROM (
			SELECT dd.*, d.active_subscribers, coalesce(sum(dd.subscribed - dd.churned) OVER (PARTITION BY dd.product_id ORDER BY dd.day DESC
				ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS after
			FROM dashboard_days dd JOIN dashboard d USING (product_id) WHERE d.seller_id = $1) x
		WHERE day > (now() AT TIME ZONE 'UTC')::date - $2::int ORDER BY product_id, day`, sellerID, app.DashboardDays)
	if err != nil {
		return nil, err
	}
	var day app.DashboardDay
	var productID string
	_, err = pgx.ForEachRow(rows, []any{&productID, &day.Day, &day.Subscribed, &day.Churned, &day.Failed, &day.ChargedMinor, &day.RefundedMinor, &day.ActiveSubscribers}, func() error {
		if r := byProduct[productID]; r != nil {
			r.Days = append(r.Days, day)
		}
		return nil
	})
	return out, err
}

// Replayed lists the events the projection is fed by, per stream.
var Replayed = []struct {
	Stream  contracts.StreamSpec
	Filters []string
}{
	{contracts.StreamSubscription, []string{contracts.SubscriptionActivated.Filter(), contracts.SubscriptionCancelled.Filter()}},
	{contracts.StreamBilling, []string{contracts.PaymentSucceededEvent.Filter(), contracts.RefundIssuedEvent.Filter()}},
}

// Rebuild empties the projection and replays every event it is fed by from the start of the
// streams, in one transaction: readers see the old numbers until the new ones are complete,
// and the live consumers wait on the truncated tables meanwhile, then find the facts the
// replay counted already there.
func (p *Dashboard) Rebuild(ctx context.Context) (app.Rebuilt, error) {
	var res app.Rebuilt
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		res = app.Rebuilt{}
		if _, err := tx.Exec(ctx, `TRUNCATE dashboard, dashboard_days, dashboard_facts`); err != nil {
			return err
		}
		for _, r := range Replayed {
			n, err := replay(ctx, p.js, r.Stream.Name, r.Filters, func(env contracts.Envelope) error { return ApplyEnvelope(ctx, tx, env) })
			if err != nil {
				return fmt.Errorf("dashboard: replay %s: %w", r.Stream.Name, err)
			}
			res.Events += n
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM dashboard`).Scan(&res.Products)
	})
	return res, err
}

// ApplyEnvelope counts one event of the projection's types into tx; other types are skipped.
func ApplyEnvelope(ctx context.Context, tx pgx.Tx, env contracts.Envelope) error {
	switch env.Type {
	case contracts.SubscriptionActivated.Type(), contracts.SubscriptionCancelled.Type():
		var d contracts.SubscriptionTerminalData
		if err := json.Unmarshal(env.Data, &d); err != nil {
			return nil // a corrupt event was dead-lettered live; the replay skips it too
		}
		if env.Type == contracts.SubscriptionActivated.Type() {
			return activated(ctx, tx, terminalFact(d, env.OccurredAt))
		}
		return cancelled(ctx, tx, terminalFact(d, env.OccurredAt))
	case contracts.PaymentSucceededEvent.Type(), contracts.RefundIssuedEvent.Type():
		var d contracts.PaymentData
		if err := json.Unmarshal(env.Data, &d); err != nil {
			return nil
		}
		if env.Type == contracts.PaymentSucceededEvent.Type() {
			return charged(ctx, tx, paymentFact(d, env.OccurredAt))
		}
		return refunded(ctx, tx, paymentFact(d, env.OccurredAt))
	}
	return nil
}

// replay reads every message of stream matching filters, from the first, with an ordered
// consumer, and stops at the last one that existed when it started. It iterates (Messages)
// rather than fetching in batches: each Fetch after the first replaces the ordered consumer
// and deletes the one before, which the service's NATS user may not do (a permission to
// delete consumers of a stream would reach other services' durables); the consumer it leaves
// expires on its own.
func replay(ctx context.Context, js jetstream.JetStream, stream string, filters []string, fn func(contracts.Envelope) error) (int64, error) {
	c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: filters, DeliverPolicy: jetstream.DeliverAllPolicy})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, err
	}
	if info.NumPending == 0 {
		return 0, nil
	}
	it, err := c.Messages(jetstream.PullMaxMessages(256))
	if err != nil {
		return 0, err
	}
	defer it.Stop()
	var n int64
	for {
		wait, cancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := it.Next(jetstream.NextContext(wait))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				return n, err
			}
			// Nothing within the wait: done if nothing is pending (messages aged out meanwhile).
			if info, err := c.Info(ctx); err == nil && info.NumPending == 0 {
				return n, nil
			}
			continue
		}
		var env contracts.Envelope
		if json.Unmarshal(m.Data(), &env) == nil {
			if err := fn(env); err != nil {
				return n, err
			}
			n++
		}
		md, err := m.Metadata()
		if err != nil {
			return n, err
		}
		if md.NumPending == 0 {
			return n, nil
		}
	}
}
