// Package app holds the auth service's use cases: signup, login, refresh, logout, me, the
// public key set and key rotation. It talks to storage through the interfaces below, which
// services/auth/adapters implements on PostgreSQL. It works on domain types and its own
// (SignupForm, Credentials, Session, Token); ports map them to and from the contracts' DTOs.
package app

import (
	"context"
	"runtime"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/auth/domain"
)

// Accounts stores accounts.
type Accounts interface {
	// Create stores a (and its UserSignedUp event); ErrAlreadyExists for a taken email.
	Create(ctx context.Context, a domain.Account) error
	ByEmail(ctx context.Context, email string) (domain.Account, error)
	ByID(ctx context.Context, id string) (domain.Account, error)
	SetPasswordHash(ctx context.Context, id, hash string) error
}

// Sessions stores refresh-token families.
type Sessions interface {
	Start(ctx context.Context, first domain.RefreshToken) error
	// Refresh spends the token with hash (per domain.RefreshToken.CheckRefresh, revoking the
	// session on reuse) and stores next in its session.
	Refresh(ctx context.Context, hash []byte, now time.Time, next domain.RefreshToken) (domain.Account, error)
	End(ctx context.Context, hash []byte, all bool, now time.Time) error
	Purge(ctx context.Context, cutoff time.Time) (int64, error)
}

// Throttle counts login attempts per (email, client address) and per email.
type Throttle interface {
	// Attempt stores the counts decide returns for the stored ones, atomically with respect
	// to other attempts on email; an error from decide stores nothing and is returned.
	Attempt(ctx context.Context, email, addr string, decide func(pair, account domain.Attempts) (domain.Attempts, domain.Attempts, error)) error
	// Succeeded forgets the pair's attempts and takes one back from the account's.
	Succeeded(ctx context.Context, email, addr string) error
	Purge(ctx context.Context, cutoff time.Time) (int64, error)
}

// Keys stores signing keys.
type Keys interface {
	Active(ctx context.Context) (domain.SigningKey, error)
	Public(ctx context.Context) ([]domain.SigningKey, error)
	PublicByID(ctx context.Context, kid string) (domain.SigningKey, error)
	Ensure(ctx context.Context, k domain.SigningKey) (domain.SigningKey, error)
	Rotate(ctx context.Context, next domain.SigningKey, now time.Time) error
}

// Config tunes the service; zero fields take the defaults.
type Config struct {
	AccessTTL  time.Duration // default contracts.AccessTokenTTL
	RefreshTTL time.Duration // default contracts.RefreshTokenTTL
	Argon2     domain.Argon2Params
	Login      domain.LoginPolicy
	// HashConcurrency bounds simultaneous argon2id computations (each takes Argon2.Memory),
	// default 2×GOMAXPROCS: more would only queue on the CPUs while holding memory.
	HashConcurrency int
	// KeyReload is how often the cached signing key is re-read, so a rotation made by another
	// replica is picked up (default 30 s).
	KeyReload time.Duration
	// OperatorSecret is what AuthOperatorToken exchanges for an operator token; empty, no
	// operator token is issued.
	OperatorSecret string
	Now            func() time.Time
}

func (c *Config) defaults() {
	if c.AccessTTL <= 0 {
		c.AccessTTL = contracts.AccessTokenTTL
	}
	if c.RefreshTTL <= 0 {
		c.RefreshTTL = contracts.RefreshTokenTTL
	}
	if c.Argon2 == (domain.Argon2Params{}) {
		c.Argon2 = domain.DefaultArgon2
	}
	if c.Login == (domain.LoginPolicy{}) {
		c.Login = domain.DefaultLoginPolicy
	}
	if c.HashConcurrency <= 0 {
		c.HashConcurrency = 2 * runtime.GOMAXPROCS(0)
	}
	if c.KeyReload <= 0 {
		c.KeyReload = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Service implements the use cases.
type Service struct {
	cfg       Config
	accounts  Accounts
	sessions  Sessions
	throttle  Throttle
	keys      *KeyRing
	hashSlots chan struct{}
	dummyHash string
}

// New returns the service. It hashes a random password once, to have a hash to check
// against when a login names an unknown email (see Login).
func New(cfg Config, accounts Accounts, sessions Sessions, throttle Throttle, keys Keys) (*Service, error) {
	cfg.defaults()
	s := &Service{cfg: cfg, accounts: accounts, sessions: sessions, throttle: throttle,
		keys: newKeyRing(keys, cfg), hashSlots: make(chan struct{}, cfg.HashConcurrency)}
	tok, _, err := domain.NewRefreshToken()
	if err != nil {
		return nil, err
	}
	if s.dummyHash, err = domain.HashPassword(cfg.Argon2, tok); err != nil {
		return nil, err
	}
	return s, nil
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// Keys returns the key ring.
func (s *Service) Keys() *KeyRing { return s.keys }

// hashing runs fn holding one of the bounded argon2 slots.
func (s *Service) hashing(ctx context.Context, fn func() error) error {
	select {
	case s.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return contracts.ErrBusy.Msg("too many password checks in progress")
	}
	defer func() { <-s.hashSlots }()
	return fn()
}

// Purge deletes expired sessions and throttle windows.
func (s *Service) Purge(ctx context.Context) error {
	now := s.cfg.Now()
	if _, err := s.sessions.Purge(ctx, now); err != nil {
		return err
	}
	_, err := s.throttle.Purge(ctx, now.Add(-s.cfg.Login.Forget))
	return err
}
