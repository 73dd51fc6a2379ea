package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"sync"
	"time"

	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/auth/domain"
)

// KeyRing caches the active signing key and answers key-set and key lookups from storage.
//
// The key set is read from storage on every call, not cached: after a rotation on any
// replica, a verifier that sees the new kid refetches and must find it whichever replica
// answers. Signing uses a cached key re-read every KeyReload, which is safe because a retired
// key stays published until its tokens expire.
type KeyRing struct {
	store    Keys
	cfg      Config
	verifier *authn.Verifier

	mu     sync.Mutex
	active domain.SigningKey
	loaded time.Time
}

func newKeyRing(store Keys, cfg Config) *KeyRing {
	r := &KeyRing{store: store, cfg: cfg}
	r.verifier = authn.NewVerifierFunc(r.lookup, authn.WithClock(cfg.Now))
	return r
}

// Init makes sure an active key exists, creating the first one on a fresh database.
func (r *KeyRing) Init(ctx context.Context) error {
	k, err := r.store.Active(ctx)
	if errors.Is(err, contracts.ErrNotFound) {
		var nk domain.SigningKey
		if nk, err = domain.NewSigningKey(r.cfg.Now()); err != nil {
			return err
		}
		k, err = r.store.Ensure(ctx, nk)
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.active, r.loaded = k, time.Now()
	r.mu.Unlock()
	return nil
}

// Signer returns the active key, re-read from storage when the cached copy is older than
// KeyReload.
func (r *KeyRing) Signer(ctx context.Context) (domain.SigningKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active.ID != "" && time.Since(r.loaded) < r.cfg.KeyReload {
		return r.active, nil
	}
	k, err := r.store.Active(ctx)
	if err != nil {
		if r.active.ID != "" {
			return r.active, nil // still published: signing with it is safe
		}
		return k, err
	}
	r.active, r.loaded = k, time.Now()
	return k, nil
}

// Rotate retires the active key and activates a new one, returning the new kid. Tokens
// signed with the old key stay valid until they expire.
func (r *KeyRing) Rotate(ctx context.Context) (string, error) {
	now := r.cfg.Now()
	k, err := domain.NewSigningKey(now)
	if err != nil {
		return "", err
	}
	if err := r.store.Rotate(ctx, k, now); err != nil {
		return "", err
	}
	r.mu.Lock()
	r.active, r.loaded = k, time.Now()
	r.mu.Unlock()
	return k.ID, nil
}

// Published returns the keys of the published key set: the active one and every retired one
// whose tokens may not have expired yet.
func (r *KeyRing) Published(ctx context.Context) ([]domain.SigningKey, error) {
	keys, err := r.store.Public(ctx)
	if err != nil {
		return nil, err
	}
	now := r.cfg.Now()
	out := make([]domain.SigningKey, 0, len(keys))
	for _, k := range keys {
		if k.Published(now, r.cfg.AccessTTL) {
			out = append(out, k)
		}
	}
	return out, nil
}

// Verifier verifies access tokens against the stored keys, without going over the bus.
func (r *KeyRing) Verifier() *authn.Verifier { return r.verifier }

func (r *KeyRing) lookup(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	k, err := r.store.PublicByID(ctx, kid)
	if errors.Is(err, contracts.ErrNotFound) || (err == nil && !k.Published(r.cfg.Now(), r.cfg.AccessTTL)) {
		return nil, contracts.ErrTokenInvalid.Msg("the token was signed with an unknown key")
	}
	if err != nil {
		return nil, contracts.ErrUnavailable.Wrap(err)
	}
	return k.Public, nil
}
