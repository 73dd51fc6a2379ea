package authn_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
)

func newRuntime(t *testing.T) *bus.Runtime {
	t.Helper()
	s, err := bus.StartEmbedded(bus.EmbeddedConfig{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	nc, err := bus.Connect(bus.ConnectConfig{URLs: s.ClientURL(), Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	rt, err := bus.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	})
	return rt
}

func wantCode(t *testing.T, err error, want *contracts.Error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %s", err, want.Code)
	}
}

func TestVerifyWithTestIssuer(t *testing.T) {
	rt := newRuntime(t)
	iss := authntest.NewIssuer(t, rt)
	v := authn.NewVerifier(rt.Client())
	ctx := context.Background()
	seller := authntest.Seller()

	p, err := v.Verify(ctx, iss.Token(seller))
	if err != nil || p != seller {
		t.Fatalf("Verify = %+v, %v; want %+v", p, err, seller)
	}
	_, err = v.Verify(ctx, iss.Expired(seller))
	wantCode(t, err, contracts.ErrTokenExpired)
	_, err = v.Verify(ctx, iss.Forged(seller))
	wantCode(t, err, contracts.ErrTokenInvalid)
	_, err = v.Verify(ctx, "not.a.jwt")
	wantCode(t, err, contracts.ErrTokenInvalid)
	_, err = v.Verify(ctx, "")
	wantCode(t, err, contracts.ErrUnauthenticated)

	// A token from another issuer names a kid this deployment never served.
	other := authntest.NewIssuer(t, newRuntime(t))
	_, err = v.Verify(ctx, other.Token(seller))
	wantCode(t, err, contracts.ErrTokenInvalid)

	// Tampering with the claims (consumer promoted to seller) breaks the signature.
	tok := iss.Token(authntest.Consumer())
	parts := strings.Split(tok, ".")
	claims, _ := jwt.NewParser().DecodeSegment(parts[1])
	forged := strings.Replace(string(claims), `"role":"consumer"`, `"role":"seller"`, 1)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
	_, err = v.Verify(ctx, strings.Join(parts, "."))
	wantCode(t, err, contracts.ErrTokenInvalid)
}

func TestVerifyRejectsOtherAlgorithms(t *testing.T) {
	rt := newRuntime(t)
	iss := authntest.NewIssuer(t, rt)
	v := authn.NewVerifier(rt.Client())
	claims := jwt.MapClaims{"iss": contracts.AccessTokenIssuer, "sub": "u1", "role": "seller",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	none := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
	none.Header["kid"] = iss.KeyID()
	s, err := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), s)
	wantCode(t, err, contracts.ErrTokenInvalid)

	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	hs.Header["kid"] = iss.KeyID()
	s, err = hs.SignedString([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), s)
	wantCode(t, err, contracts.ErrTokenInvalid)
}

func TestFromContextAndRoles(t *testing.T) {
	rt := newRuntime(t)
	iss := authntest.NewIssuer(t, rt)
	v := authn.NewVerifier(rt.Client())
	_, err := v.FromContext(context.Background())
	wantCode(t, err, contracts.ErrUnauthenticated)

	consumer := authntest.Consumer()
	ctx := iss.Context(context.Background(), consumer)
	p, err := v.FromContext(ctx)
	if err != nil || p.UserID != consumer.UserID {
		t.Fatalf("FromContext = %+v, %v", p, err)
	}
	if err := authn.RequireRole(p, contracts.RoleConsumer, contracts.RoleSeller); err != nil {
		t.Fatal(err)
	}
	wantCode(t, authn.RequireRole(p, contracts.RoleSeller), contracts.ErrForbidden)
	wantCode(t, authn.RequireRole(contracts.Principal{}), contracts.ErrUnauthenticated)
	_, err = v.Require(ctx, contracts.RoleSeller)
	wantCode(t, err, contracts.ErrForbidden)
}
