package adapters

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/moa-run/moa/services/notify/app"
	"github.com/moa-run/moa/services/notify/domain"
)

// Writer writes in one transaction: the inbox's, when an event is handled.
type Writer struct {
	tx   pgx.Tx
	keep int
}

var _ app.Writer = (*Writer)(nil)

// NewWriter returns a writer on tx that keeps the last keep notifications of a user (0: all;
// the janitor still removes old ones).
func NewWriter(tx pgx.Tx, keep int) *Writer { return &Writer{tx: tx, keep: keep} }

// appendSQL takes the user's next sequence and stores the notification in one statement. A
// duplicate (same user and dedup key, already committed) takes no sequence: the NOT EXISTS
// makes the sequence upsert return nothing. Two transactions racing with the same dedup key
// serialise on the sequence row; the second one's insert then violates the unique key and
// its whole transaction rolls back, its increment with it, so no sequence is lost either way.
const appendSQL = `
WITH s AS (
    INSERT INTO user_seq (user_id, last_seq)
    SELECT $1, 1 WHERE NOT EXISTS (SELECT 1 FROM notifications WHERE user_id = $1 AND dedup_key = $2)
    ON CONFLICT (user_id) DO UPDATE SET last_seq = user_seq.last_seq + 1
    RETURNING last_seq
)
INSERT INTO notifications (user_id, seq, kind, title, body, data, dedup_key)
SELECT $1, s.last_seq, $3, $4, $5, $6, $2 FROM s
RETURNING seq, created_at`

// Append implements app.Writer.
func (w *Writer) Append(ctx context.Context, d domain.Draft) (domain.Notification, bool, error) {
	n := domain.Notification{UserID: d.UserID, Kind: d.Kind, Title: d.Title, Body: d.Body, Data: d.Data}
	var data any
	if len(d.Data) > 0 {
		data = string(d.Data)
	}
	var seq int64
	err := w.tx.QueryRow(ctx, appendSQL, d.UserID, d.DedupKey, d.Kind, d.Title, d.Body, data).Scan(&seq, &n.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Notification{}, false, nil
	}
	if err != nil {
		return domain.Notification{}, false, fmt.Errorf("notify: append: %w", err)
	}
	n.Seq = uint64(seq)
	// Only the user's oldest go, so what is kept stays a contiguous run.
	if w.keep > 0 && seq > int64(w.keep) {
		if _, err := w.tx.Exec(ctx, `DELETE FROM notifications WHERE user_id = $1 AND seq <= $2`, d.UserID, seq-int64(w.keep)); err != nil {
			return domain.Notification{}, false, fmt.Errorf("notify: prune: %w", err)
		}
	}
	return n, true, nil
}

// EnqueueMail implements app.Writer.
func (w *Writer) EnqueueMail(ctx context.Context, m domain.Mail) (bool, error) {
	tag, err := w.tx.Exec(ctx, `INSERT INTO mail_queue (dedup_key, user_id, subject, body) VALUES ($1, $2, $3, $4)
		ON CONFLICT (dedup_key, user_id) DO NOTHING`, m.DedupKey, m.UserID, m.Subject, m.Body)
	if err != nil {
		return false, fmt.Errorf("notify: enqueue mail: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Product implements app.Writer.
func (w *Writer) Product(ctx context.Context, id string) (domain.Product, error) {
	p := domain.Product{ID: id}
	err := w.tx.QueryRow(ctx, `SELECT seller_id, title, version FROM products WHERE product_id = $1`, id).Scan(&p.SellerID, &p.Title, &p.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Product{}, nil
	}
	if err != nil {
		return domain.Product{}, fmt.Errorf("notify: product: %w", err)
	}
	return p, nil
}

// SaveProduct implements app.Writer. An older version never overwrites a newer one, so a late
// redelivery cannot bring back an old title.
func (w *Writer) SaveProduct(ctx context.Context, p domain.Product) error {
	_, err := w.tx.Exec(ctx, `INSERT INTO products (product_id, seller_id, title, version) VALUES ($1, $2, $3, $4)
		ON CONFLICT (product_id) DO UPDATE SET seller_id = EXCLUDED.seller_id, title = EXCLUDED.title, version = EXCLUDED.version
		WHERE products.version <= EXCLUDED.version`, p.ID, p.SellerID, p.Title, p.Version)
	if err != nil {
		return fmt.Errorf("notify: save product: %w", err)
	}
	return nil
}

// SaveUser implements app.Writer. Mails that were waiting for this user's address become due
// at once.
func (w *Writer) SaveUser(ctx context.Context, u domain.User) error {
	if _, err := w.tx.Exec(ctx, `INSERT INTO directory (user_id, email, display_name, role) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, display_name = EXCLUDED.display_name,
			role = EXCLUDED.role, updated_at = now()`, u.ID, u.Email, u.DisplayName, u.Role); err != nil {
		return fmt.Errorf("notify: save user: %w", err)
	}
	if _, err := w.tx.Exec(ctx, `UPDATE mail_queue SET next_attempt_at = now()
		WHERE user_id = $1 AND status = 'pending' AND next_attempt_at > now()`, u.ID); err != nil {
		return fmt.Errorf("notify: save user: %w", err)
	}
	return nil
}
