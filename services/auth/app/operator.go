package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"time"

	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
)

// Token is a signed access token and when it expires.
type Token struct {
	AccessToken string
	ExpiresAt   time.Time
}

// OperatorToken exchanges the operator secret for a short-lived token with RoleOperator,
// which the operator endpoints (and the whole dev mailbox) require. The comparison is of
// hashes in constant time, so neither the secret nor its length leaks through timing.
func (s *Service) OperatorToken(ctx context.Context, secret string) (Token, error) {
	if s.cfg.OperatorSecret == "" {
		return Token{}, contracts.ErrForbidden.Msg("operator tokens are off (MOA_AUTH_OPERATOR_SECRET is not set)")
	}
	want, got := sha256.Sum256([]byte(s.cfg.OperatorSecret)), sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return Token{}, contracts.ErrInvalidCredentials.Msg("wrong operator secret")
	}
	key, err := s.keys.Signer(ctx)
	if err != nil {
		return Token{}, err
	}
	p := contracts.Principal{UserID: contracts.OperatorUserID, Role: contracts.RoleOperator, DisplayName: "operator"}
	tok, exp, err := authn.Issue(key.Private, key.ID, p, s.cfg.Now(), contracts.OperatorTokenTTL)
	if err != nil {
		return Token{}, err
	}
	return Token{AccessToken: tok, ExpiresAt: exp.UTC()}, nil
}
