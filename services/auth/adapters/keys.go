package adapters

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/auth/domain"
)

// Key encryption schemes of signing_keys.encryption.
const (
	encNone   = "none"
	encAESGCM = "aes-256-gcm"
)

// Keys stores signing keys in PostgreSQL. With a key-encryption key (KEK) private keys are
// sealed with AES-256-GCM, the kid as additional data so a sealed key cannot be moved to
// another row; without one they are stored raw.
type Keys struct {
	pool *pgxpool.Pool
	aead cipher.AEAD // nil: no KEK
}

// NewKeys returns the key store on pool. kek must be nil or 32 bytes.
func NewKeys(pool *pgxpool.Pool, kek []byte) (*Keys, error) {
	k := &Keys{pool: pool}
	if kek == nil {
		return k, nil
	}
	if len(kek) != 32 {
		return nil, fmt.Errorf("auth: key-encryption key has %d bytes, want 32", len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	if k.aead, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	return k, nil
}

// Encrypted reports whether new keys are stored sealed.
func (r *Keys) Encrypted() bool { return r.aead != nil }

func (r *Keys) seal(k domain.SigningKey) (enc string, blob []byte, err error) {
	if r.aead == nil {
		return encNone, k.Private.Seed(), nil
	}
	nonce := make([]byte, r.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, err
	}
	return encAESGCM, r.aead.Seal(nonce, nonce, k.Private.Seed(), []byte(k.ID)), nil
}

func (r *Keys) open(kid, enc string, blob []byte) (ed25519.PrivateKey, error) {
	var seed []byte
	switch enc {
	case encNone:
		seed = blob
	case encAESGCM:
		if r.aead == nil {
			return nil, fmt.Errorf("auth: signing key %s is encrypted and no key-encryption key is configured", kid)
		}
		ns := r.aead.NonceSize()
		if len(blob) < ns {
			return nil, fmt.Errorf("auth: signing key %s: sealed blob too short", kid)
		}
		var err error
		if seed, err = r.aead.Open(nil, blob[:ns], blob[ns:], []byte(kid)); err != nil {
			return nil, fmt.Errorf("auth: signing key %s: cannot decrypt (wrong key-encryption key?)", kid)
		}
	default:
		return nil, fmt.Errorf("auth: signing key %s: unknown encryption %q", kid, enc)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("auth: signing key %s: bad seed length", kid)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// Active returns the active signing key with its private key, or contracts.ErrNotFound.
func (r *Keys) Active(ctx context.Context) (domain.SigningKey, error) {
	var k domain.SigningKey
	var enc string
	var blob []byte
	err := r.pool.QueryRow(ctx, `SELECT kid, public_key, private_key, encryption, created_at
		FROM signing_keys WHERE retired_at IS NULL`).Scan(&k.ID, (*[]byte)(&k.Public), &blob, &enc, &k.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, contracts.ErrNotFound.Msg("no active signing key")
	}
	if err != nil {
		return k, fmt.Errorf("auth: read signing key: %w", err)
	}
	k.Private, err = r.open(k.ID, enc, blob)
	return k, err
}

// Public returns every key's public half (no private keys), newest first.
func (r *Keys) Public(ctx context.Context) ([]domain.SigningKey, error) {
	rows, err := r.pool.Query(ctx, `SELECT kid, public_key, created_at, retired_at FROM signing_keys ORDER BY created_at DESC`)
	if err != nil {
		return nil, fmt.Errorf("auth: read signing keys: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.SigningKey, error) {
		var k domain.SigningKey
		var retired *time.Time
		err := row.Scan(&k.ID, (*[]byte)(&k.Public), &k.CreatedAt, &retired)
		if retired != nil {
			k.RetiredAt = *retired
		}
		return k, err
	})
}

// PublicByID returns one key's public half, or contracts.ErrNotFound.
func (r *Keys) PublicByID(ctx context.Context, kid string) (domain.SigningKey, error) {
	var k domain.SigningKey
	var retired *time.Time
	err := r.pool.QueryRow(ctx, `SELECT kid, public_key, created_at, retired_at FROM signing_keys WHERE kid = $1`, kid).
		Scan(&k.ID, (*[]byte)(&k.Public), &k.CreatedAt, &retired)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, contracts.ErrNotFound.Msg("no signing key %s", kid)
	}
	if err != nil {
		return k, fmt.Errorf("auth: read signing key: %w", err)
	}
	if retired != nil {
		k.RetiredAt = *retired
	}
	return k, nil
}

// Ensure stores k as the active key unless there is one already; either way it returns the
// active key. Replicas starting together end up with one key.
func (r *Keys) Ensure(ctx context.Context, k domain.SigningKey) (domain.SigningKey, error) {
	enc, blob, err := r.seal(k)
	if err != nil {
		return k, err
	}
	_, err = r.pool.Exec(ctx, `INSERT INTO signing_keys (kid, public_key, private_key, encryption, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, k.ID, []byte(k.Public), blob, enc, k.CreatedAt)
	if err != nil {
		return k, fmt.Errorf("auth: insert signing key: %w", err)
	}
	return r.Active(ctx)
}

// Rotate retires the active key at now and makes next the active key, atomically.
func (r *Keys) Rotate(ctx context.Context, next domain.SigningKey, now time.Time) error {
	enc, blob, err := r.seal(next)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		// Serialises concurrent rotations: the second waits, then retires the first's key.
		if _, err := tx.Exec(ctx, `LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL`, now); err != nil {
			return fmt.Errorf("auth: retire signing key: %w", err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO signing_keys (kid, public_key, private_key, encryption, created_at)
			VALUES ($1, $2, $3, $4, $5)`, next.ID, []byte(next.Public), blob, enc, next.CreatedAt)
		if err != nil {
			return fmt.Errorf("auth: insert signing key: %w", err)
		}
		return nil
	})
}
