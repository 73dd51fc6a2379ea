package app

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/auth/domain"
)

// SignupForm is what a signup asks for; NewAccount checks and normalises it.
type SignupForm struct {
	Email       string
	Password    string
	Role        contracts.Role
	DisplayName string
}

// Credentials are a login's: ClientAddr is the client's address as the edge saw it, for the
// throttle.
type Credentials struct {
	Email      string
	Password   string
	ClientAddr string
}

// Session is a started or refreshed session: a signed access token, the refresh token that
// continues it, and whose it is.
type Session struct {
	AccessToken      string
	ExpiresAt        time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
	Account          domain.Account
}

// Signup creates an account.
func (s *Service) Signup(ctx context.Context, req SignupForm) (domain.Account, error) {
	a, err := domain.NewAccount(req.Email, req.Role, req.DisplayName, s.cfg.Now())
	if err != nil {
		return domain.Account{}, err
	}
	if err := domain.CheckNewPassword(req.Password); err != nil {
		return domain.Account{}, err
	}
	err = s.hashing(ctx, func() (err error) {
		a.PasswordHash, err = domain.HashPassword(s.cfg.Argon2, req.Password)
		return err
	})
	if err != nil {
		return domain.Account{}, err
	}
	if err := s.accounts.Create(ctx, a); err != nil {
		return domain.Account{}, err
	}
	return a, nil
}

// Login checks credentials and starts a session.
//
// Unknown emails and wrong passwords are indistinguishable to the caller: same error, and an
// argon2id check against a dummy hash for unknown emails so that both take the same time. The
// throttle (domain.LoginPolicy) counts the attempt before the password is checked, per
// client address (req.ClientAddr, set by the edge) and per account, for known and unknown
// emails alike.
func (s *Service) Login(ctx context.Context, req Credentials) (Session, error) {
	email, err := contracts.NormalizeEmail(req.Email)
	if err != nil {
		return Session{}, err
	}
	now := s.cfg.Now()
	var slow time.Duration
	err = s.throttle.Attempt(ctx, email, req.ClientAddr, func(pair, account domain.Attempts) (domain.Attempts, domain.Attempts, error) {
		var err error
		pair, account, slow, err = s.cfg.Login.Admit(pair, account, now)
		return pair, account, err
	})
	if err != nil {
		return Session{}, err
	}
	if err := pause(ctx, slow); err != nil {
		return Session{}, err
	}
	acc, err := s.accounts.ByEmail(ctx, email)
	known := err == nil
	if err != nil && !errors.Is(err, contracts.ErrNotFound) {
		return Session{}, err
	}
	hash := s.dummyHash
	if known {
		hash = acc.PasswordHash
	}
	var ok, rehash bool
	err = s.hashing(ctx, func() (err error) {
		ok, rehash, err = domain.VerifyPassword(s.cfg.Argon2, hash, req.Password)
		return err
	})
	if err != nil {
		return Session{}, contracts.AsError(err)
	}
	if !known || !ok {
		return Session{}, contracts.ErrInvalidCredentials.Msg("email or password is wrong")
	}
	if err := s.throttle.Succeeded(ctx, email, req.ClientAddr); err != nil {
		return Session{}, err
	}
	if rehash {
		s.upgradeHash(ctx, acc.ID, req.Password)
	}
	return s.startSession(ctx, acc, now)
}

// pause slows an attempt on an account past its ceiling, without holding a hashing slot.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return contracts.ErrBusy.Msg("login abandoned while slowed down")
	}
}

// upgradeHash stores a hash with the current parameters. Failing is harmless (the old hash
// still works), so errors are dropped.
func (s *Service) upgradeHash(ctx context.Context, id, password string) {
	_ = s.hashing(ctx, func() error {
		h, err := domain.HashPassword(s.cfg.Argon2, password)
		if err != nil {
			return err
		}
		return s.accounts.SetPasswordHash(ctx, id, h)
	})
}

func (s *Service) startSession(ctx context.Context, acc domain.Account, now time.Time) (Session, error) {
	refresh, hash, err := domain.NewRefreshToken()
	if err != nil {
		return Session{}, err
	}
	sid, err := uuid.NewV7()
	if err != nil {
		return Session{}, err
	}
	first := domain.RefreshToken{Hash: hash, SessionID: sid.String(), UserID: acc.ID, IssuedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTTL)}
	if err := s.sessions.Start(ctx, first); err != nil {
		return Session{}, err
	}
	return s.session(ctx, acc, refresh, first.ExpiresAt, now)
}

// session signs an access token for acc and assembles the reply.
func (s *Service) session(ctx context.Context, acc domain.Account, refresh string, refreshExp, now time.Time) (Session, error) {
	key, err := s.keys.Signer(ctx)
	if err != nil {
		return Session{}, err
	}
	access, exp, err := authn.Issue(key.Private, key.ID, acc.Principal(), now, s.cfg.AccessTTL)
	if err != nil {
		return Session{}, err
	}
	return Session{AccessToken: access, ExpiresAt: exp.UTC(), RefreshToken: refresh, RefreshExpiresAt: refreshExp.UTC(), Account: acc}, nil
}

// Refresh exchanges a refresh token for a new pair. The old token is spent; presenting it
// again revokes the session (ErrTokenReused).
func (s *Service) Refresh(ctx context.Context, refreshToken string) (Session, error) {
	now := s.cfg.Now()
	refresh, hash, err := domain.NewRefreshToken()
	if err != nil {
		return Session{}, err
	}
	next := domain.RefreshToken{Hash: hash, IssuedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTTL)}
	acc, err := s.sessions.Refresh(ctx, domain.HashRefreshToken(refreshToken), now, next)
	if err != nil {
		return Session{}, err
	}
	return s.session(ctx, acc, refresh, next.ExpiresAt, now)
}

// Logout ends the session of a refresh token (or, with all, all of its user's sessions).
func (s *Service) Logout(ctx context.Context, refreshToken string, all bool) error {
	return s.sessions.End(ctx, domain.HashRefreshToken(refreshToken), all, s.cfg.Now())
}

// Me returns the account of userID, the user of a verified access token (the bus verifies it
// with the service's own keys before the handler runs, see contracts.AuthMe).
func (s *Service) Me(ctx context.Context, userID string) (domain.Account, error) {
	acc, err := s.accounts.ByID(ctx, userID)
	if errors.Is(err, contracts.ErrNotFound) {
		return domain.Account{}, contracts.ErrTokenInvalid.Msg("the token's account does not exist")
	}
	if err != nil {
		return domain.Account{}, err
	}
	return acc, nil
}
