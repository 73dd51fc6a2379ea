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

// Sessions stores refresh-token families in PostgreSQL.
type Sessions struct{ pool *pgxpool.Pool }

// NewSessions returns the session repository on pool.
func NewSessions(pool *pgxpool.Pool) *Sessions { return &Sessions{pool: pool} }

// Start creates session t.SessionID for t.UserID with t as its first refresh token.
func (r *Sessions) Start(ctx context.Context, t domain.RefreshToken) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)`,
			t.SessionID, t.UserID, t.IssuedAt); err != nil {
			return fmt.Errorf("auth: insert session: %w", err)
		}
		return insertToken(ctx, tx, t)
	})
}

func insertToken(ctx context.Context, tx pgx.Tx, t domain.RefreshToken) error {
	_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)`,
		t.Hash, t.SessionID, t.IssuedAt, t.ExpiresAt)
	if err != nil {
		return fmt.Errorf("auth: insert refresh token: %w", err)
	}
	return nil
}

// lockToken reads the token with hash and locks its row and its session's row, so concurrent
// refreshes of one session run one after the other and the second sees the first's effect.
func lockToken(ctx context.Context, tx pgx.Tx, hash []byte) (domain.RefreshToken, error) {
	var t domain.RefreshToken
	var used, revoked *time.Time
	err := tx.QueryRow(ctx, `SELECT t.session_id::text, s.user_id::text, t.issued_at, t.expires_at, t.used_at, s.revoked_at
		FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
		WHERE t.token_hash = $1 FOR UPDATE OF t, s`, hash).
		Scan(&t.SessionID, &t.UserID, &t.IssuedAt, &t.ExpiresAt, &used, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, contracts.ErrTokenInvalid.Msg("unknown refresh token")
	}
	if err != nil {
		return t, fmt.Errorf("auth: read refresh token: %w", err)
	}
	t.Hash, t.Used, t.SessionRevoked = hash, used != nil, revoked != nil
	return t, nil
}

// Refresh spends the token with hash and stores next (in the same session) in its place,
// returning the account it belongs to. The decision is domain.RefreshToken.CheckRefresh; on
// reuse the session is revoked and that revocation is committed before the error returns.
func (r *Sessions) Refresh(ctx context.Context, hash []byte, now time.Time, next domain.RefreshToken) (domain.Account, error) {
	var acc domain.Account
	var reuse error
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		cur, err := lockToken(ctx, tx, hash)
		if err != nil {
			return err
		}
		if err := cur.CheckRefresh(now); err != nil {
			if !errors.Is(err, contracts.ErrTokenReused) {
				return err
			}
			reuse = err
			return revokeSession(ctx, tx, cur.SessionID, now, domain.RevokedReuse)
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1`, hash, now); err != nil {
			return fmt.Errorf("auth: spend refresh token: %w", err)
		}
		next.SessionID, next.UserID = cur.SessionID, cur.UserID
		if err := insertToken(ctx, tx, next); err != nil {
			return err
		}
		acc, err = scanAccount(tx.QueryRow(ctx, `SELECT `+accountCols+` FROM users WHERE id = $1`, cur.UserID))
		return err
	})
	if err != nil {
		return acc, err
	}
	if reuse != nil {
		return acc, reuse
	}
	return acc, nil
}

func revokeSession(ctx context.Context, tx pgx.Tx, id string, now time.Time, reason string) error {
	_, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = $2, revoke_reason = $3 WHERE id = $1 AND revoked_at IS NULL`, id, now, reason)
	if err != nil {
		return fmt.Errorf("auth: revoke session: %w", err)
	}
	return nil
}

// End revokes the session of the token with hash, or every live session of its user when
// all is set. Ending an ended session is not an error (logout is idempotent).
func (r *Sessions) End(ctx context.Context, hash []byte, all bool, now time.Time) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		cur, err := lockToken(ctx, tx, hash)
		if err != nil {
			return err
		}
		if !all {
			return revokeSession(ctx, tx, cur.SessionID, now, domain.RevokedLogout)
		}
		_, err = tx.Exec(ctx, `UPDATE sessions SET revoked_at = $2, revoke_reason = $3 WHERE user_id = $1 AND revoked_at IS NULL`,
			cur.UserID, now, domain.RevokedLogoutAll)
		return err
	})
}

// Purge deletes refresh tokens that expired before cutoff and sessions left without tokens.
// Spent tokens are kept until they expire: they are what reuse detection looks up.
func (r *Sessions) Purge(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := r.pool.Exec(ctx, `DELETE FROM refresh_tokens WHERE expires_at < $1`, cutoff)
	if err != nil {
		return 0, err
	}
	_, err = r.pool.Exec(ctx, `DELETE FROM sessions s WHERE created_at < $1
		AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = s.id)`, cutoff)
	return tag.RowsAffected(), err
}
