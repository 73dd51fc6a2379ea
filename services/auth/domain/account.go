package domain

import (
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/contracts"
)

// Account is a user account with its password hash.
type Account struct {
	ID           string
	Email        string // normalised: trimmed, lower-case
	Role         contracts.Role
	DisplayName  string
	PasswordHash string
	CreatedAt    time.Time
}

// NewAccount checks and normalises a signup and returns the account to store, with a new
// id. CreatedAt is cut to PostgreSQL's microsecond precision, so the account returned at
// signup equals the one read back later. The password is hashed by the caller (it is slow and bounded separately).
func NewAccount(email string, role contracts.Role, displayName string, now time.Time) (Account, error) {
	e, err := contracts.NormalizeEmail(email)
	if err != nil {
		return Account{}, err
	}
	if !role.Valid() {
		return Account{}, contracts.ErrValidation.OnField("role", "role must be %q, %q or %q", contracts.RoleConsumer, contracts.RoleSeller, contracts.RoleWriter)
	}
	n, err := contracts.NormalizeDisplayName(displayName)
	if err != nil {
		return Account{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Account{}, err
	}
	return Account{ID: id.String(), Email: e, Role: role, DisplayName: n, CreatedAt: now.UTC().Truncate(time.Microsecond)}, nil
}

// Principal is the account as an access token names it.
func (a Account) Principal() contracts.Principal {
	return contracts.Principal{UserID: a.ID, Role: a.Role, Email: a.Email, DisplayName: a.DisplayName}
}
