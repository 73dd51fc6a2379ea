package adapters

import (
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus/pgmigrate"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/payout/app"
	"github.com/moa-run/moa/services/payout/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the projection's schema up to date (payout_schema_version).
var Migrate = pgmigrate.Service(migrations, "payout")

// History is the payout history and balances projection on PostgreSQL. Entries apply in
// stream order, each once: the projection's row holds the last sequence applied, and an entry
// at or below it is skipped, so redeliveries and a replay beside the live consumer are safe.
type History struct {
	pool *pgxpool.Pool
}

var (
	_ app.History   = (*History)(nil)
	_ app.Scheduler = (*History)(nil)
)

// NewHistory returns the projection on pool.
func NewHistory(pool *pgxpool.Pool) *History { return &History{pool: pool} }

// Apply projects the entry stored at seq.
func (h *History) Apply(ctx context.Context, e domain.Entry, seq uint64) error {
	return pgx.BeginFunc(ctx, h.pool, func(tx pgx.Tx) error {
		return h.apply(ctx, tx, e, seq)
	})
}

func (h *History) apply(ctx context.Context, tx pgx.Tx, e domain.Entry, seq uint64) error {
	var cur int64
	// FOR UPDATE: one entry at a time, in order, across instances and beside a rebuild.
	if err := tx.QueryRow(ctx, `SELECT seq FROM payout_projection FOR UPDATE`).Scan(&cur); err != nil {
		return err
	}
	if int64(seq) <= cur {
		return nil
	}
	if d := e.Delta(); d != 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO payout_balances (seller_id, currency, amount_minor, seq) VALUES ($1, $2, $3, $4)
			ON CONFLICT (seller_id, currency) DO UPDATE SET amount_minor = payout_balances.amount_minor + $3, seq = $4`,
			e.SellerID, e.Currency, d, int64(seq)); err != nil {
			return err
		}
	}
	switch e.Kind {
	case domain.PayoutRequested:
		if _, err := tx.Exec(ctx, `INSERT INTO payout_history (payout_id, seller_id, amount_minor, currency, status, requested_at, updated_at, seq)
			VALUES ($1, $2, $3, $4, $5, $6, $6, $7) ON CONFLICT (payout_id) DO NOTHING`,
			e.PayoutID, e.SellerID, e.AmountMinor, e.Currency, contracts.PayoutPending, e.At, int64(seq)); err != nil {
			return err
		}
	case domain.PayoutPaid, domain.PayoutReversed:
		status := contracts.PayoutPaid
		if e.Kind == domain.PayoutReversed {
			status = contracts.PayoutReversed
		}
		if _, err := tx.Exec(ctx, `UPDATE payout_history SET status = $2, bank_ref = $3, reason = $4, updated_at = $5, seq = $6
			WHERE payout_id = $1`, e.PayoutID, status, e.BankRef, e.Reason, e.At, int64(seq)); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `UPDATE payout_projection SET seq = $1`, int64(seq))
	return err
}

// Rebuild empties the projection and replays the ledger into it in one transaction: the live
// consumer waits on the projection's row meanwhile, then skips what the replay applied.
func (h *History) Rebuild(ctx context.Context, replay func(ctx context.Context, fn func(e domain.Entry, seq uint64) error) error) (rows int64, err error) {
	err = pgx.BeginFunc(ctx, h.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT seq FROM payout_projection FOR UPDATE`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `TRUNCATE payout_history, payout_balances`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE payout_projection SET seq = 0`); err != nil {
			return err
		}
		if err := replay(ctx, func(e domain.Entry, seq uint64) error { return h.apply(ctx, tx, e, seq) }); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM payout_history`).Scan(&rows)
	})
	return rows, err
}

// Seq is the last ledger sequence the projection applied.
func (h *History) Seq(ctx context.Context) (uint64, error) {
	var seq int64
	err := h.pool.QueryRow(ctx, `SELECT seq FROM payout_projection`).Scan(&seq)
	return uint64(seq), err
}

// cursor is the position after the last payout of a page.
type cursor struct {
	At time.Time `json:"t"`
	ID string    `json:"i"`
}

// Page is one page of seller's payouts, newest first, after cur (a previous page's next
// cursor, "" for the first).
func (h *History) Page(ctx context.Context, seller string, limit int, cur string) ([]domain.PayoutRecord, string, error) {
	if limit <= 0 {
		limit = contracts.DefaultPageSize
	}
	after := cursor{At: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), ID: "ffffffff-ffff-ffff-ffff-ffffffffffff"}
	if cur != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cur)
		if err != nil || json.Unmarshal(raw, &after) != nil || !contracts.IsUUID(after.ID) {
			return nil, "", contracts.ErrValidation.OnField("cursor", "cursor is not valid")
		}
	}
	rows, err := h.pool.Query(ctx, `SELECT payout_id::text, amount_minor, currency, status, bank_ref, reason, requested_at, updated_at
		FROM payout_history WHERE seller_id = $1 AND (requested_at, payout_id) < ($2, $3::uuid)
		ORDER BY requested_at DESC, payout_id DESC LIMIT $4`, seller, after.At, after.ID, limit+1)
	if err != nil {
		return nil, "", err
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.PayoutRecord, error) {
		var p domain.PayoutRecord
		err := r.Scan(&p.ID, &p.AmountMinor, &p.Currency, &p.Status, &p.BankRef, &p.Reason, &p.RequestedAt, &p.UpdatedAt)
		return p, err
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		raw, _ := json.Marshal(cursor{At: last.RequestedAt, ID: last.ID})
		next = base64.RawURLEncoding.EncodeToString(raw)
	}
	return items, next, nil
}

// Payable lists up to limit sellers' currencies whose projected balance is at least min.
func (h *History) Payable(ctx context.Context, min int64, limit int) ([]app.Due, error) {
	rows, err := h.pool.Query(ctx, `SELECT seller_id::text, currency FROM payout_balances WHERE amount_minor >= $1
		ORDER BY seller_id, currency LIMIT $2`, max(min, 1), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (app.Due, error) {
		var d app.Due
		return d, r.Scan(&d.SellerID, &d.Currency)
	})
}

// Pending lists up to limit payouts still pending that were requested before cutoff.
func (h *History) Pending(ctx context.Context, cutoff time.Time, limit int) ([]app.Due, error) {
	rows, err := h.pool.Query(ctx, `SELECT seller_id::text, currency, payout_id::text FROM payout_history
		WHERE status = $1 AND requested_at < $2 ORDER BY requested_at LIMIT $3`, contracts.PayoutPending, cutoff, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (app.Due, error) {
		var d app.Due
		return d, r.Scan(&d.SellerID, &d.Currency, &d.PayoutID)
	})
}
