package adapters

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/services/notify/app"
)

// DevMailbox lists the mail queue as the dev mailbox.
type DevMailbox struct{ pool *pgxpool.Pool }

var _ app.Mailbox = (*DevMailbox)(nil)

// NewDevMailbox returns the dev mailbox on pool.
func NewDevMailbox(pool *pgxpool.Pool) *DevMailbox { return &DevMailbox{pool: pool} }

// List implements app.Mailbox: newest first; a pending mail shows the address it will go to
// if the directory knows it.
func (b *DevMailbox) List(ctx context.Context, to string, limit int) ([]app.MailboxEntry, error) {
	rows, err := b.pool.Query(ctx, `SELECT m.id, m.user_id, COALESCE(m.to_addr, d.email, ''), m.subject, m.body, m.status,
			m.created_at, m.sent_at
		FROM mail_queue m LEFT JOIN directory d ON d.user_id = m.user_id
		WHERE $1 = '' OR COALESCE(m.to_addr, d.email) = $1
		ORDER BY m.id DESC LIMIT $2`, strings.ToLower(strings.TrimSpace(to)), limit)
	if err != nil {
		return nil, fmt.Errorf("notify: dev mailbox: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (app.MailboxEntry, error) {
		var m app.MailboxEntry
		err := r.Scan(&m.ID, &m.UserID, &m.To, &m.Subject, &m.Body, &m.Status, &m.CreatedAt, &m.SentAt)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("notify: dev mailbox: %w", err)
	}
	return items, nil
}
