package authn_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
)

// keyServer serves auth.v1.keys from a swappable key set and counts the fetches.
type keyServer struct {
	mu      sync.Mutex
	set     contracts.KeySet
	fetches atomic.Int64
	svc     *bus.Service
}

func serveKeys(t *testing.T, rt *bus.Runtime) *keyServer {
	t.Helper()
	ks := &keyServer{}
	svc, err := rt.AddService(contracts.AuthService)
	if err != nil {
		t.Fatal(err)
	}
	ks.svc = svc
	err = bus.Handle(svc, contracts.AuthKeys, func(context.Context, contracts.Empty) (contracts.KeySet, error) {
		ks.fetches.Add(1)
		ks.mu.Lock()
		defer ks.mu.Unlock()
		return ks.set, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

type signer struct {
	kid string
	pub ed25519.PublicKey
	key ed25519.PrivateKey
}

func newSigner(t *testing.T) signer {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: authn.Thumbprint(pub), pub: pub, key: key}
}

func (s signer) token(t *testing.T, p contracts.Principal) string {
	tok, _, err := authn.Issue(s.key, s.kid, p, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestKeysAreCachedAndRefetchedOnRotation(t *testing.T) {
	rt := newRuntime(t)
	ks := serveKeys(t, rt)
	k1, k2 := newSigner(t), newSigner(t)
	ks.set = contracts.KeySet{Keys: []contracts.JWK{authn.PublicJWK(k1.kid, k1.pub)}}
	v := authn.NewVerifier(rt.Client(), authn.WithMinRefetch(50*time.Millisecond))
	ctx := context.Background()
	p := authntest.Seller()

	for range 50 {
		if _, err := v.Verify(ctx, k1.token(t, p)); err != nil {
			t.Fatal(err)
		}
	}
	if n := ks.fetches.Load(); n != 1 {
		t.Fatalf("%d key fetches for 50 verifications with one key, want 1", n)
	}

	// Rotation: the new key is published beside the old one; the verifier learns it on the
	// first token that names it, and keeps accepting the old key.
	ks.mu.Lock()
	ks.set.Keys = append(ks.set.Keys, authn.PublicJWK(k2.kid, k2.pub))
	ks.mu.Unlock()
	if _, err := v.Verify(ctx, k2.token(t, p)); err != nil {
		t.Fatalf("token signed with the rotated-in key: %v", err)
	}
	if _, err := v.Verify(ctx, k1.token(t, p)); err != nil {
		t.Fatalf("token signed with the old key after rotation: %v", err)
	}
	if n := ks.fetches.Load(); n != 2 {
		t.Fatalf("%d key fetches after one rotation, want 2", n)
	}
}

func TestUnknownKidFloodIsRateLimited(t *testing.T) {
	rt := newRuntime(t)
	ks := serveKeys(t, rt)
	k1 := newSigner(t)
	ks.set = contracts.KeySet{Keys: []contracts.JWK{authn.PublicJWK(k1.kid, k1.pub)}}
	v := authn.NewVerifier(rt.Client(), authn.WithMinRefetch(time.Hour))
	ctx := context.Background()
	if _, err := v.Verify(ctx, k1.token(t, authntest.Seller())); err != nil {
		t.Fatal(err)
	}
	// 100 concurrent tokens with fresh unknown kids. With an hour between fetches allowed,
	// they cannot trigger a fetch before their deadline: all fail, none reaches the keys
	// endpoint, and verification of good tokens goes on meanwhile.
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 100 {
		wg.Go(func() {
			c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			if _, err := v.Verify(c, newSigner(t).token(t, authntest.Seller())); err != nil {
				failed.Add(1)
			}
		})
	}
	if _, err := v.Verify(ctx, k1.token(t, authntest.Seller())); err != nil {
		t.Fatalf("good token during the flood: %v", err)
	}
	wg.Wait()
	if failed.Load() != 100 {
		t.Fatalf("%d of 100 unknown-kid tokens failed, want all", failed.Load())
	}
	if n := ks.fetches.Load(); n != 1 {
		t.Fatalf("%d key fetches, want 1 (the flood must not reach the auth service)", n)
	}
}

func TestVerifyWithoutAuthServiceIsUnavailable(t *testing.T) {
	rt := newRuntime(t)
	v := authn.NewVerifier(rt.Client())
	tok := newSigner(t).token(t, authntest.Seller())
	_, err := v.Verify(context.Background(), tok)
	wantCode(t, err, contracts.ErrUnavailable)
}

func TestWithdrawnKeyIsDroppedAfterMaxAge(t *testing.T) {
	rt := newRuntime(t)
	ks := serveKeys(t, rt)
	k1, k2 := newSigner(t), newSigner(t)
	ks.set = contracts.KeySet{Keys: []contracts.JWK{authn.PublicJWK(k1.kid, k1.pub), authn.PublicJWK(k2.kid, k2.pub)}}
	v := authn.NewVerifier(rt.Client(), authn.WithMaxKeyAge(100*time.Millisecond), authn.WithMinRefetch(10*time.Millisecond))
	ctx := context.Background()
	p := authntest.Seller()
	if _, err := v.Verify(ctx, k1.token(t, p)); err != nil {
		t.Fatal(err)
	}
	ks.mu.Lock()
	ks.set.Keys = ks.set.Keys[1:] // the auth service withdrew k1
	ks.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := v.Verify(ctx, k1.token(t, p))
		if errors.Is(err, contracts.ErrTokenInvalid) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("withdrawn key still accepted after 20s (last: %v)", err)
		}
		time.Sleep(20 * time.Millisecond) // pacing the poll, not waiting for a condition
	}
	if _, err := v.Verify(ctx, k2.token(t, p)); err != nil {
		t.Fatalf("the remaining key: %v", err)
	}
}

func TestCachedKeysSurviveAnAuthOutage(t *testing.T) {
	rt := newRuntime(t)
	ks := serveKeys(t, rt)
	k1 := newSigner(t)
	ks.set = contracts.KeySet{Keys: []contracts.JWK{authn.PublicJWK(k1.kid, k1.pub)}}
	v := authn.NewVerifier(rt.Client(), authn.WithMaxKeyAge(time.Millisecond), authn.WithMinRefetch(time.Millisecond))
	ctx := context.Background()
	if _, err := v.Verify(ctx, k1.token(t, authntest.Seller())); err != nil {
		t.Fatal(err)
	}
	if err := ks.svc.Micro().Stop(); err != nil {
		t.Fatal(err)
	}
	// The set is always past its max age now and every refresh fails: verification goes on
	// with the cached key, without waiting for the failing fetches.
	for range 20 {
		c, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := v.Verify(c, k1.token(t, authntest.Seller()))
		cancel()
		if err != nil {
			t.Fatalf("verify during the outage: %v", err)
		}
	}
	// A key it never saw cannot be verified, and says why.
	_, err := v.Verify(ctx, newSigner(t).token(t, authntest.Seller()))
	wantCode(t, err, contracts.ErrUnavailable)
}
