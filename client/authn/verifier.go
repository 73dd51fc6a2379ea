package authn

import (
	"context"
	"crypto/ed25519"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// Defaults of a Verifier.
const (
	// DefaultMinRefetch is the least time between two key fetches. A token with an unknown kid
	// makes the verifier fetch the keys again, and forged tokens can carry any kid: this bound
	// keeps them from turning every request into a call to the auth service.
	DefaultMinRefetch = time.Second
	// DefaultMaxKeyAge is how long a fetched key set is trusted before it is fetched again, so
	// that a key the auth service withdrew stops being accepted.
	DefaultMaxKeyAge = 10 * time.Minute
	// DefaultLeeway absorbs clock skew between the auth service and verifiers.
	DefaultLeeway = 30 * time.Second
	fetchTimeout  = 3 * time.Second
)

// Verifier checks access tokens with the auth service's public keys, fetched over the bus and
// cached. It is safe for concurrent use; one per process is enough.
type Verifier struct {
	c          *bus.Client
	lookup     KeyLookup
	minRefetch time.Duration
	maxAge     time.Duration
	leeway     time.Duration
	now        func() time.Time

	mu      sync.RWMutex
	keys    map[string]ed25519.PublicKey
	fetched time.Time // when keys were last fetched successfully
	gen     uint64    // incremented when a fetch attempt starts
	lastErr error     // outcome of the latest attempt

	verified *verifiedCache // tokens that passed, with what keeps them good

	fetching   chan struct{} // a one-slot lock: one fetch at a time, waited for within ctx
	refreshing atomic.Bool   // a background refresh is running
	lastFetch  time.Time     // last attempt, successful or not
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithMinRefetch sets the least time between two key fetches (default DefaultMinRefetch).
func WithMinRefetch(d time.Duration) Option { return func(v *Verifier) { v.minRefetch = d } }

// WithMaxKeyAge sets how long a fetched key set is used before it is refreshed.
func WithMaxKeyAge(d time.Duration) Option { return func(v *Verifier) { v.maxAge = d } }

// WithLeeway sets the clock-skew allowance for exp and iat (default DefaultLeeway).
func WithLeeway(d time.Duration) Option { return func(v *Verifier) { v.leeway = d } }

// WithClock sets the time against which token expiry is checked (tests).
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// NewVerifier returns a verifier that fetches keys with c from contracts.AuthKeys. Nothing is
// fetched until the first Verify.
func NewVerifier(c *bus.Client, opts ...Option) *Verifier {
	v := &Verifier{c: c, minRefetch: DefaultMinRefetch, maxAge: DefaultMaxKeyAge, leeway: DefaultLeeway, now: time.Now,
		fetching: make(chan struct{}, 1), verified: newVerifiedCache(verifiedCacheSize)}
	v.lookup = v.key
	for _, o := range opts {
		o(v)
	}
	return v
}

// KeyLookup returns the public key named kid. Errors should be *contracts.Error:
// ErrTokenInvalid for an unknown key, ErrUnavailable when the keys cannot be read.
type KeyLookup func(ctx context.Context, kid string) (ed25519.PublicKey, error)

// NewVerifierFunc returns a verifier that takes keys from lookup instead of fetching them over
// the bus: for the auth service itself, which holds the keys.
func NewVerifierFunc(lookup KeyLookup, opts ...Option) *Verifier {
	v := &Verifier{lookup: lookup, leeway: DefaultLeeway, now: time.Now, verified: newVerifiedCache(verifiedCacheSize)}
	for _, o := range opts {
		o(v)
	}
	return v
}

// Verify checks token and returns its principal. Errors: contracts.ErrTokenExpired for a
// well-signed token past its expiry, contracts.ErrTokenInvalid for anything else wrong with
// the token, contracts.ErrUnavailable when the keys could not be fetched to decide.
func (v *Verifier) Verify(ctx context.Context, token string) (contracts.Principal, error) {
	if token == "" {
		return contracts.Principal{}, contracts.ErrUnauthenticated.Msg("no access token")
	}
	if e, ok := v.verified.get(token); ok {
		// Still good if it has not expired and the key that signed it is still the key of its
		// kid; otherwise it is verified in full below, which says why it fails.
		if v.now().Before(e.exp.Add(v.leeway)) {
			if k, err := v.lookup(ctx, e.kid); err == nil && k.Equal(e.key) {
				return e.p, nil
			}
		}
		v.verified.drop(token)
	}
	var claims Claims
	var kid string
	var key ed25519.PublicKey
	_, err := jwt.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ = t.Header["kid"].(string)
		if kid == "" {
			return nil, contracts.ErrTokenInvalid.Msg("the token has no kid")
		}
		k, err := v.lookup(ctx, kid)
		key = k
		return k, err
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(contracts.AccessTokenIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(v.now),
	)
	if err != nil {
		return contracts.Principal{}, tokenError(err)
	}
	p := claims.Principal()
	if p.UserID == "" || !p.Role.Known() {
		return contracts.Principal{}, contracts.ErrTokenInvalid.Msg("the token has no subject or an unknown role")
	}
	v.verified.put(token, verifiedToken{p: p, exp: claims.ExpiresAt.Time, kid: kid, key: key})
	return p, nil
}

// FromContext verifies the end user's token carried by ctx (bus.AuthToken). With no token it
// returns contracts.ErrUnauthenticated.
func (v *Verifier) FromContext(ctx context.Context) (contracts.Principal, error) {
	tok := bus.AuthToken(ctx)
	if tok == "" {
		return contracts.Principal{}, contracts.ErrUnauthenticated.Msg("this call needs an access token")
	}
	return v.Verify(ctx, tok)
}

// Require is FromContext followed by RequireRole.
func (v *Verifier) Require(ctx context.Context, roles ...contracts.Role) (contracts.Principal, error) {
	p, err := v.FromContext(ctx)
	if err != nil {
		return p, err
	}
	return p, RequireRole(p, roles...)
}

// RequireRole returns nil when p has one of roles (any role when none is given),
// contracts.ErrUnauthenticated for an empty principal and contracts.ErrForbidden otherwise.
func RequireRole(p contracts.Principal, roles ...contracts.Role) error {
	if p.UserID == "" {
		return contracts.ErrUnauthenticated.Msg("this call needs an access token")
	}
	if len(roles) == 0 {
		return nil
	}
	for _, r := range roles {
		if p.Role == r {
			return nil
		}
	}
	return contracts.ErrForbidden.Msg("role %q may not do this", p.Role)
}

// tokenError maps the jwt library's errors onto the catalogue. A *contracts.Error returned by
// the key lookup (unavailable, unknown kid) is kept.
func tokenError(err error) error {
	var ce *contracts.Error
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.Is(err, jwt.ErrTokenExpired):
		return contracts.ErrTokenExpired.Msg("the access token has expired")
	case errors.Is(err, jwt.ErrTokenMalformed):
		return contracts.ErrTokenInvalid.Msg("the access token is malformed")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return contracts.ErrTokenInvalid.Msg("the access token's signature is invalid")
	}
	return contracts.ErrTokenInvalid.Msg("the access token is not valid").Wrap(err)
}

// key returns the public key kid. A known key is returned at once, even from a key set past
// its max age (which is then refreshed in the background: an auth outage must neither log
// everybody out nor slow every request). An unknown kid waits for a fetch.
func (v *Verifier) key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	v.mu.RLock()
	k, ok := v.keys[kid]
	fresh := time.Since(v.fetched) < v.maxAge
	gen := v.gen
	v.mu.RUnlock()
	if ok {
		if !fresh {
			v.refreshInBackground(gen)
		}
		return k, nil
	}
	if err := v.refetch(ctx, gen); err != nil {
		return nil, err
	}
	v.mu.RLock()
	k, ok = v.keys[kid]
	v.mu.RUnlock()
	if !ok {
		return nil, contracts.ErrTokenInvalid.Msg("the token was signed with an unknown key")
	}
	return k, nil
}

// refreshInBackground starts one refetch unless one is running.
func (v *Verifier) refreshInBackground(gen uint64) {
	if !v.refreshing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer v.refreshing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), v.minRefetch+fetchTimeout)
		defer cancel()
		_ = v.refetch(ctx, gen)
	}()
}

// refetch fetches the key set unless a fetch started after the caller looked (generation seen
// is older than the current one): one fetch answers every caller that missed before it, with
// its outcome.
// Fetches are at least minRefetch apart; a caller waits for its turn within ctx.
func (v *Verifier) refetch(ctx context.Context, seen uint64) error {
	select {
	case v.fetching <- struct{}{}:
		defer func() { <-v.fetching }()
	case <-ctx.Done():
		return contracts.ErrUnavailable.Msg("gave up waiting to refresh token keys")
	}
	v.mu.RLock()
	cur, lastErr := v.gen, v.lastErr
	v.mu.RUnlock()
	if cur != seen {
		return lastErr
	}
	if wait := v.minRefetch - time.Since(v.lastFetch); wait > 0 && !v.lastFetch.IsZero() {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return contracts.ErrUnavailable.Msg("gave up waiting to refresh token keys")
		}
	}
	v.lastFetch = time.Now()
	// Counting at the start (fetches are serialised by the lock): a caller that looked after
	// this point waits for the next fetch, because this one may predate what it needs.
	v.mu.Lock()
	v.gen++
	v.mu.Unlock()
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	set, err := bus.Call(fctx, v.c, contracts.AuthKeys, contracts.Empty{})
	keys := map[string]ed25519.PublicKey{}
	if err == nil {
		for _, j := range set.Keys {
			if pub, perr := ParseJWK(j); perr == nil {
				keys[j.Kid] = pub
			}
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil {
		v.lastErr = contracts.ErrUnavailable.Msg("cannot fetch token keys from %s: %v", contracts.AuthKeys.Subject(), err).Wrap(err)
		return v.lastErr
	}
	v.keys, v.fetched, v.lastErr = keys, time.Now(), nil
	return nil
}
