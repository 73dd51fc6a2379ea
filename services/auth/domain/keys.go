package domain

import (
	"crypto/ed25519"
	"crypto/rand"
	"time"

	"github.com/moa-run/moa/client/authn"
)

// SigningKey signs access tokens. Exactly one key is active; rotation retires it and makes a
// new one active. A retired key stays published until every token it signed has expired.
type SigningKey struct {
	ID        string // kid: the RFC 7638 thumbprint of the public key
	Public    ed25519.PublicKey
	Private   ed25519.PrivateKey
	CreatedAt time.Time
	RetiredAt time.Time // zero while active
}

// KeyRetentionSlack keeps a retired key published past the last expiry it signed, covering
// the verifiers' clock-skew leeway.
const KeyRetentionSlack = authn.DefaultLeeway + 30*time.Second

// NewSigningKey generates a key.
func NewSigningKey(now time.Time) (SigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, err
	}
	return SigningKey{ID: authn.Thumbprint(pub), Public: pub, Private: priv, CreatedAt: now.UTC()}, nil
}

// Active reports whether k is the signing key.
func (k SigningKey) Active() bool { return k.RetiredAt.IsZero() }

// PublishedUntil is when k may be dropped from the key set: never while active, else once
// every token it could have signed has expired.
func (k SigningKey) PublishedUntil(accessTTL time.Duration) time.Time {
	if k.Active() {
		return time.Time{}
	}
	return k.RetiredAt.Add(accessTTL + KeyRetentionSlack)
}

// Published reports whether k belongs in the key set at now.
func (k SigningKey) Published(now time.Time, accessTTL time.Duration) bool {
	return k.Active() || now.Before(k.PublishedUntil(accessTTL))
}
