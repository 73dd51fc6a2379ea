package adapters

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Throttle counts login attempts per email in PostgreSQL, so every replica sees the same
// count.
type Throttle struct{ pool *pgxpool.Pool }

// NewThrottle returns the throttle store on pool.
func NewThrottle(pool *pgxpool.Pool) *Throttle { return &Throttle{pool: pool} }

// Count records one attempt for email and returns the attempt's number in the current window
// and when that window started. A window older than window is replaced by a new one. The
// upsert is one statement, so concurrent attempts each get their own number.
func (r *Throttle) Count(ctx context.Context, email string, now time.Time, window time.Duration) (int, time.Time, error) {
	var n int
	var start time.Time
	err := r.pool.QueryRow(ctx, `INSERT INTO login_attempts AS a (email, attempts, window_start) VALUES ($1, 1, $2)
		ON CONFLICT (email) DO UPDATE SET
			attempts     = CASE WHEN a.window_start <= $3 THEN 1  ELSE a.attempts + 1 END,
			window_start = CASE WHEN a.window_start <= $3 THEN $2 ELSE a.window_start END
		RETURNING attempts, window_start`, email, now, now.Add(-window)).Scan(&n, &start)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("auth: count login attempt: %w", err)
	}
	return n, start, nil
}

// Reset forgets the attempts of email (after a successful login).
func (r *Throttle) Reset(ctx context.Context, email string) error {
	_, err := r.pool.Exec(ctx, `DELETE FROM login_attempts WHERE email = $1`, email)
	return err
}

// Purge deletes windows that started before cutoff.
func (r *Throttle) Purge(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := r.pool.Exec(ctx, `DELETE FROM login_attempts WHERE window_start < $1`, cutoff)
	return tag.RowsAffected(), err
}
