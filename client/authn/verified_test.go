package authn

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
)

// keyring is a swappable key set behind a KeyLookup, for a verifier that is not on the bus.
type keyring struct {
	mu   sync.Mutex
	keys map[string]ed25519.PublicKey
}

func (r *keyring) lookup(_ context.Context, kid string) (ed25519.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.keys[kid]
	if !ok {
		return nil, contracts.ErrTokenInvalid.Msg("the token was signed with an unknown key")
	}
	return k, nil
}

func (r *keyring) set(kid string, k ed25519.PublicKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if k == nil {
		delete(r.keys, kid)
		return
	}
	r.keys[kid] = k
}

func newKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, key
}

func issue(t testing.TB, key ed25519.PrivateKey, kid string, now time.Time, ttl time.Duration) string {
	t.Helper()
	p := contracts.Principal{UserID: "u-" + kid[:6], Role: contracts.RoleConsumer, Email: "a@example.com"}
	tok, _, err := Issue(key, kid, p, now, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func wantErr(t *testing.T, err error, want *contracts.Error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %s", err, want.Code)
	}
}

// A cached token is still refused once it expires or once the key that signed it is withdrawn
// or replaced: the cache saves the signature check, not the checks that change with time.
func TestVerifiedTokenCacheKeepsExpiryAndKeyWithdrawal(t *testing.T) {
	ctx := context.Background()
	pub, key := newKey(t)
	kid := Thumbprint(pub)
	ring := &keyring{keys: map[string]ed25519.PublicKey{kid: pub}}
	now := time.Now()
	clock := func() time.Time { return now }
	v := NewVerifierFunc(ring.lookup, WithClock(clock), WithLeeway(time.Second))

	tok := issue(t, key, kid, now, time.Minute)
	for range 2 {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.verified.len(); n != 1 {
		t.Fatalf("%d tokens cached after two verifications of one, want 1", n)
	}

	// Expiry: past exp plus the leeway, the cached token is refused as expired.
	now = now.Add(time.Minute + 2*time.Second)
	_, err := v.Verify(ctx, tok)
	wantErr(t, err, contracts.ErrTokenExpired)
	if n := v.verified.len(); n != 0 {
		t.Fatalf("an expired token stays cached (%d)", n)
	}

	// Withdrawal: the key is gone from the key set.
	now = time.Now()
	tok = issue(t, key, kid, now, time.Minute)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	ring.set(kid, nil)
	_, err = v.Verify(ctx, tok)
	wantErr(t, err, contracts.ErrTokenInvalid)

	// Replacement: the kid now names another key; the token's signature is not by it.
	ring.set(kid, pub)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	other, _ := newKey(t)
	ring.set(kid, other)
	_, err = v.Verify(ctx, tok)
	wantErr(t, err, contracts.ErrTokenInvalid)
}

// Only tokens that verified are cached, and the cache stays within two generations.
func TestVerifiedTokenCacheHoldsOnlyGoodTokensAndIsBounded(t *testing.T) {
	ctx := context.Background()
	pub, key := newKey(t)
	kid := Thumbprint(pub)
	ring := &keyring{keys: map[string]ed25519.PublicKey{kid: pub}}
	v := NewVerifierFunc(ring.lookup)
	v.verified = newVerifiedCache(8)

	_, forgedKey := newKey(t)
	forged := issue(t, forgedKey, kid, time.Now(), time.Minute)
	for range 3 {
		_, err := v.Verify(ctx, forged)
		wantErr(t, err, contracts.ErrTokenInvalid)
	}
	_, err := v.Verify(ctx, issue(t, key, kid, time.Now(), -time.Minute))
	wantErr(t, err, contracts.ErrTokenExpired)
	if n := v.verified.len(); n != 0 {
		t.Fatalf("%d refused tokens cached", n)
	}

	for i := range 50 {
		tok := issue(t, key, kid, time.Now(), time.Duration(i+1)*time.Minute)
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if n := v.verified.len(); n > 16 {
			t.Fatalf("after %d tokens the cache holds %d, over its two generations of 8", i+1, n)
		}
	}
}

// BenchmarkVerify prints the cost of verifying one user's token again (cached) against
// verifying it in full each time (caching off), measured in the same run.
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	pub, key := newKey(b)
	kid := Thumbprint(pub)
	ring := &keyring{keys: map[string]ed25519.PublicKey{kid: pub}}
	tok := issue(b, key, kid, time.Now(), time.Hour)
	per := map[string]float64{}
	for _, c := range []struct {
		name string
		size int
	}{{"full", 0}, {"cached", verifiedCacheSize}} {
		b.Run(c.name, func(b *testing.B) {
			v := NewVerifierFunc(ring.lookup)
			v.verified = newVerifiedCache(c.size)
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
			per[c.name] = float64(time.Since(start).Nanoseconds()) / float64(b.N)
		})
	}
	if per["full"] > 0 && per["cached"] > 0 {
		fmt.Printf("token verification: full %.1f µs, cached %.2f µs per request (%.0f× cheaper)\n",
			per["full"]/1e3, per["cached"]/1e3, per["full"]/per["cached"])
	}
}
