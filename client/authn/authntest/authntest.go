// Package authntest lets component tests of services other than auth authenticate callers
// without booting the auth service: an Issuer serves auth.v1.keys on the test's bus with its
// own Ed25519 key and mints tokens that authn.Verifier accepts.
//
//	iss := authntest.NewIssuer(t, rt)
//	seller := authntest.Seller()
//	ctx := iss.Context(context.Background(), seller)
//	_, err := client.New(rt.Client()).Catalog.CreateProduct(ctx, ...)
package authntest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
)

// Issuer plays the auth service's key endpoint in tests.
type Issuer struct {
	t     testing.TB
	key   ed25519.PrivateKey
	kid   string
	rogue ed25519.PrivateKey // signs Forged tokens under the served kid
}

// NewIssuer registers the auth service's keys endpoint on rt, serving a fresh test key, and
// stops it when the test ends. Do not use it in a test that also starts the real auth service.
func NewIssuer(t testing.TB, rt *bus.Runtime) *Issuer {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, rogue, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss := &Issuer{t: t, key: key, kid: authn.Thumbprint(pub), rogue: rogue}
	svc, err := rt.AddService(contracts.AuthService)
	if err != nil {
		t.Fatalf("authntest: %v", err)
	}
	t.Cleanup(func() { _ = svc.Micro().Stop() })
	set := contracts.KeySet{Keys: []contracts.JWK{authn.PublicJWK(iss.kid, pub)}}
	err = bus.Handle(svc, contracts.AuthKeys, func(context.Context, contracts.Empty) (contracts.KeySet, error) {
		return set, nil
	})
	if err != nil {
		t.Fatalf("authntest: %v", err)
	}
	return iss
}

// KeyID is the kid of the served key.
func (i *Issuer) KeyID() string { return i.kid }

// Token mints a valid access token for p (expires in contracts.AccessTokenTTL).
func (i *Issuer) Token(p contracts.Principal) string {
	return i.mint(i.key, p, time.Now(), contracts.AccessTokenTTL)
}

// Expired mints a correctly signed token for p that expired an hour ago.
func (i *Issuer) Expired(p contracts.Principal) string {
	return i.mint(i.key, p, time.Now().Add(-2*time.Hour), time.Hour)
}

// Forged mints a token for p that names the served kid but is signed by another key.
func (i *Issuer) Forged(p contracts.Principal) string {
	return i.mint(i.rogue, p, time.Now(), contracts.AccessTokenTTL)
}

// Context returns ctx carrying a valid token for p, as the edge would set it.
func (i *Issuer) Context(ctx context.Context, p contracts.Principal) context.Context {
	return bus.WithAuthToken(ctx, i.Token(p))
}

func (i *Issuer) mint(key ed25519.PrivateKey, p contracts.Principal, from time.Time, ttl time.Duration) string {
	i.t.Helper()
	tok, _, err := authn.Issue(key, i.kid, p, from, ttl)
	if err != nil {
		i.t.Fatalf("authntest: %v", err)
	}
	return tok
}

// Seller returns a new seller principal with a random id.
func Seller() contracts.Principal { return principal(contracts.RoleSeller) }

// Operator returns the principal of operator tokens.
func Operator() contracts.Principal {
	return contracts.Principal{UserID: contracts.OperatorUserID, Role: contracts.RoleOperator, DisplayName: "operator"}
}

// Consumer returns a new consumer principal with a random id.
func Consumer() contracts.Principal { return principal(contracts.RoleConsumer) }

func principal(r contracts.Role) contracts.Principal {
	id := uuid.NewString()
	return contracts.Principal{UserID: id, Role: r, Email: string(r) + "-" + id[:8] + "@example.test", DisplayName: "Test " + string(r)}
}
