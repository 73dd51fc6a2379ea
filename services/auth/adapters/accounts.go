package adapters

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus/outbox"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/auth/domain"
)

// Source is the event source name of the auth service.
const Source = "auth"

// Accounts stores accounts in PostgreSQL.
type Accounts struct{ pool *pgxpool.Pool }

// NewAccounts returns the account repository on pool.
func NewAccounts(pool *pgxpool.Pool) *Accounts { return &Accounts{pool: pool} }

// Create stores a new account and records UserSignedUp in the outbox in the same
// transaction (outbox.Transact also wakes this process's relay after the commit). An email
// already taken gives contracts.ErrAlreadyExists on field email.
func (r *Accounts) Create(ctx context.Context, a domain.Account) error {
	return outbox.Transact(ctx, r.pool, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (id, email, password_hash, role, display_name, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, a.ID, a.Email, a.PasswordHash, string(a.Role), a.DisplayName, a.CreatedAt)
		if isUniqueViolation(err, "users_email_key") {
			return contracts.ErrAlreadyExists.OnField("email", "an account with this email already exists")
		}
		if err != nil {
			return fmt.Errorf("auth: insert user: %w", err)
		}
		_, err = outbox.Emit(ctx, tx, Source, contracts.AuthUserSignedUp, a.ID, contracts.UserSignedUp{
			UserID: a.ID, Email: a.Email, Role: a.Role, DisplayName: a.DisplayName,
		})
		return err
	})
}

const accountCols = `id::text, email, role, display_name, password_hash, created_at`

func scanAccount(row pgx.Row) (domain.Account, error) {
	var a domain.Account
	var role string
	err := row.Scan(&a.ID, &a.Email, &role, &a.DisplayName, &a.PasswordHash, &a.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, contracts.ErrNotFound.Msg("no such account")
	}
	if err != nil {
		return a, fmt.Errorf("auth: read user: %w", err)
	}
	a.Role = contracts.Role(role)
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}

// ByEmail returns the account with the normalised email, or contracts.ErrNotFound.
func (r *Accounts) ByEmail(ctx context.Context, email string) (domain.Account, error) {
	return scanAccount(r.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM users WHERE email = $1`, email))
}

// ByID returns the account id, or contracts.ErrNotFound.
func (r *Accounts) ByID(ctx context.Context, id string) (domain.Account, error) {
	// A malformed id (from a token subject) must not reach PostgreSQL as a cast error.
	if !contracts.IsUUID(id) {
		return domain.Account{}, contracts.ErrNotFound.Msg("no such account")
	}
	return scanAccount(r.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM users WHERE id = $1`, id))
}

// SetPasswordHash replaces an account's password hash (rehash after a parameter change).
func (r *Accounts) SetPasswordHash(ctx context.Context, id, hash string) error {
	_, err := r.pool.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, id, hash)
	return err
}

func isUniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && (constraint == "" || pe.ConstraintName == constraint)
}
