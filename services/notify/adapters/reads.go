package adapters

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/services/notify/app"
	"github.com/moa-run/moa/services/notify/domain"
)

// Reads answers the users' queries from the pool.
type Reads struct{ pool *pgxpool.Pool }

var _ app.Reads = (*Reads)(nil)

// NewReads returns the query side on pool.
func NewReads(pool *pgxpool.Pool) *Reads { return &Reads{pool: pool} }

// sinceSQL reads the latest sequence and the run after since in one statement, hence one
// snapshot: the rows and last_seq agree even while notifications are being added or pruned.
const sinceSQL = `
SELECT s.last_seq, n.seq, n.kind, n.title, n.body, n.data, n.created_at, n.read_at IS NOT NULL
FROM user_seq s
LEFT JOIN LATERAL (
    SELECT seq, kind, title, body, data, created_at, read_at FROM notifications
    WHERE user_id = s.user_id AND seq > $2 AND seq <= s.last_seq
    ORDER BY seq LIMIT $3
) n ON true
WHERE s.user_id = $1
ORDER BY n.seq`

// Since implements app.Reads.
func (r *Reads) Since(ctx context.Context, userID string, since uint64, limit int) (uint64, []domain.Notification, error) {
	rows, err := r.pool.Query(ctx, sinceSQL, userID, int64(since), limit)
	if err != nil {
		return 0, nil, fmt.Errorf("notify: since: %w", err)
	}
	defer rows.Close()
	var last int64
	var items []domain.Notification
	for rows.Next() {
		var seq *int64
		var n domain.Notification
		var kind, title, body *string
		var data []byte
		var read *bool
		var created *time.Time
		if err := rows.Scan(&last, &seq, &kind, &title, &body, &data, &created, &read); err != nil {
			return 0, nil, fmt.Errorf("notify: since: %w", err)
		}
		if seq == nil { // the LEFT JOIN's row for "nothing after since"
			continue
		}
		n = domain.Notification{UserID: userID, Seq: uint64(*seq), Kind: *kind, Title: *title, Body: *body,
			Data: data, CreatedAt: *created, Read: *read}
		items = append(items, n)
	}
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("notify: since: %w", err)
	}
	return uint64(last), items, nil
}

// Page implements app.Reads.
func (r *Reads) Page(ctx context.Context, userID string, before uint64, limit int, unreadOnly bool) ([]domain.Notification, error) {
	rows, err := r.pool.Query(ctx, `SELECT seq, kind, title, body, data, created_at, read_at IS NOT NULL FROM notifications
		WHERE user_id = $1 AND ($2::bigint = 0 OR seq < $2) AND (NOT $3 OR read_at IS NULL)
		ORDER BY seq DESC LIMIT $4`, userID, int64(before), unreadOnly, limit)
	if err != nil {
		return nil, fmt.Errorf("notify: list: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Notification, error) {
		n := domain.Notification{UserID: userID}
		var seq int64
		err := row.Scan(&seq, &n.Kind, &n.Title, &n.Body, &n.Data, &n.CreatedAt, &n.Read)
		n.Seq = uint64(seq)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("notify: list: %w", err)
	}
	return items, nil
}

// MarkRead implements app.Reads.
func (r *Reads) MarkRead(ctx context.Context, userID string, upTo uint64, seqs []uint64) error {
	ids := make([]int64, len(seqs))
	for i, s := range seqs {
		ids[i] = int64(s)
	}
	if _, err := r.pool.Exec(ctx, `UPDATE notifications SET read_at = now()
		WHERE user_id = $1 AND read_at IS NULL AND (seq <= $2 OR seq = ANY($3))`, userID, int64(upTo), ids); err != nil {
		return fmt.Errorf("notify: mark read: %w", err)
	}
	return nil
}

// Unread implements app.Reads.
func (r *Reads) Unread(ctx context.Context, userID string) (int64, uint64, error) {
	var n, last int64
	err := r.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL),
		COALESCE((SELECT last_seq FROM user_seq WHERE user_id = $1), 0)`, userID).Scan(&n, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("notify: unread: %w", err)
	}
	return n, uint64(last), nil
}
