package adapters

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/auth/domain"
)

// accountAddr is the addr of the per-account row (no client address looks like it).
const accountAddr = "*"

// Throttle stores login attempts in PostgreSQL, so every replica sees the same counts.
type Throttle struct{ pool *pgxpool.Pool }

// NewThrottle returns the throttle store on pool.
func NewThrottle(pool *pgxpool.Pool) *Throttle { return &Throttle{pool: pool} }

// Attempt records an attempt on email from addr if decide admits it. Both rows are locked
// (the pair's first, always in that order) for the decision, so concurrent attempts are
// decided one after the other and each sees the ones before it.
func (r *Throttle) Attempt(ctx context.Context, email, addr string,
	decide func(pair, account domain.Attempts) (domain.Attempts, domain.Attempts, error)) error {
	if addr == accountAddr {
		addr = "" // not a valid address anyway; never the account row
	}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var rows [2]domain.Attempts
		for i, a := range []string{addr, accountAddr} {
			if _, err := tx.Exec(ctx, `INSERT INTO login_throttle (email, addr, attempts, last_at) VALUES ($1, $2, 0, 'epoch')
				ON CONFLICT DO NOTHING`, email, a); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `SELECT attempts, last_at FROM login_throttle WHERE email = $1 AND addr = $2 FOR UPDATE`,
				email, a).Scan(&rows[i].N, &rows[i].Last); err != nil {
				return err
			}
		}
		pair, account, err := decide(rows[0], rows[1])
		if err != nil {
			return err
		}
		for _, u := range []struct {
			addr string
			a    domain.Attempts
		}{{addr, pair}, {accountAddr, account}} {
			if _, err := tx.Exec(ctx, `UPDATE login_throttle SET attempts = $3, last_at = $4 WHERE email = $1 AND addr = $2`,
				email, u.addr, u.a.N, u.a.Last); err != nil {
				return err
			}
		}
		return nil
	})
	var decided *contracts.Error // the policy's refusal, passed on as it is
	if err != nil && !errors.As(err, &decided) {
		return fmt.Errorf("auth: count login attempt: %w", err)
	}
	return err
}

// Succeeded forgets the attempts of email from addr and takes the attempt back from the
// account's count, so an owner's own logins never bring the account near its ceiling.
func (r *Throttle) Succeeded(ctx context.Context, email, addr string) error {
	if addr == accountAddr {
		addr = ""
	}
	_, err := r.pool.Exec(ctx, `WITH gone AS (DELETE FROM login_throttle WHERE email = $1 AND addr = $2)
		UPDATE login_throttle SET attempts = greatest(attempts - 1, 0) WHERE email = $1 AND addr = $3`, email, addr, accountAddr)
	return err
}

// Purge deletes counts whose last attempt is before cutoff.
func (r *Throttle) Purge(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := r.pool.Exec(ctx, `DELETE FROM login_throttle WHERE last_at < $1`, cutoff)
	return tag.RowsAffected(), err
}
