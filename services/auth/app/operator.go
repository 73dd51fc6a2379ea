package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"

	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
)

// OperatorToken exchanges the operator secret for a short-lived token with RoleOperator,
// which the operator endpoints (and the whole dev mailbox) require. The comparison is of
// hashes in constant time, so neither the secret nor its length leaks through timing.
func (s *Service) OperatorToken(ctx context.Context, req contracts.OperatorTokenRequest) (contracts.OperatorToken, error) {
	if s.cfg.OperatorSecret == "" {
		return contracts.OperatorToken{}, contracts.ErrForbidden.Msg("operator tokens are off (MOA_AUTH_OPERATOR_SECRET is not set)")
	}
	want, got := sha256.Sum256([]byte(s.cfg.OperatorSecret)), sha256.Sum256([]byte(req.Secret))
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return contracts.OperatorToken{}, contracts.ErrInvalidCredentials.Msg("wrong operator secret")
	}
	key, err := s.keys.Signer(ctx)
	if err != nil {
		return contracts.OperatorToken{}, err
	}
	p := contracts.Principal{UserID: contracts.OperatorUserID, Role: contracts.RoleOperator, DisplayName: "operator"}
	tok, exp, err := authn.Issue(key.Private, key.ID, p, s.cfg.Now(), contracts.OperatorTokenTTL)
	if err != nil {
		return contracts.OperatorToken{}, err
	}
	return contracts.OperatorToken{AccessToken: tok, ExpiresAt: exp.UTC()}, nil
}
