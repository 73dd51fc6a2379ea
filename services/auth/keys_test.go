package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/auth"
)

func kidOf(t *testing.T, token string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Header["kid"].(string)
}

func kids(set contracts.KeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.Kid)
	}
	return out
}

func TestKeyRotationKeepsOldTokensValidUntilExpiry(t *testing.T) {
	t.Parallel()
	const ttl = 4 * time.Second
	h := newHarness(t, settings{"ACCESS_TOKEN_TTL": ttl.String()})
	u, pw := h.signup(contracts.RoleSeller)
	old := h.login(u.Email, pw)
	// A verifier elsewhere, warmed up with the old key set; no clock-skew leeway so that expiry
	// is observable within the test.
	v := authn.NewVerifier(h.Runtime.Client(), authn.WithLeeway(0), authn.WithMinRefetch(10*time.Millisecond))
	if _, err := v.Verify(ctx(t), old.AccessToken); err != nil {
		t.Fatal(err)
	}

	newKid, err := h.Component.RotateKey(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	oldKid := kidOf(t, old.AccessToken)
	if newKid == oldKid {
		t.Fatal("rotation kept the kid")
	}
	fresh := h.login(u.Email, pw)
	if got := kidOf(t, fresh.AccessToken); got != newKid {
		t.Fatalf("token after rotation has kid %s, want the new %s", got, newKid)
	}
	set, err := h.Client.Auth.Keys(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if ks := kids(set); len(ks) != 2 || !slices.Contains(ks, oldKid) || !slices.Contains(ks, newKid) {
		t.Fatalf("key set %v, want old %s and new %s", ks, oldKid, newKid)
	}
	// The warmed-up verifier learns the new key on first sight and keeps the old one.
	for _, tok := range []string{fresh.AccessToken, old.AccessToken} {
		if p, err := v.Verify(ctx(t), tok); err != nil || p.UserID != u.ID {
			t.Fatalf("verify after rotation: %+v, %v", p, err)
		}
	}
	if _, err := h.Client.Auth.Me(bus.WithAuthToken(ctx(t), old.AccessToken)); err != nil {
		t.Fatalf("Me with a pre-rotation token: %v", err)
	}
	// Until it expires.
	moatest.WaitFor(t, 30*time.Second, func() error {
		_, err := v.Verify(ctx(t), old.AccessToken)
		if errors.Is(err, contracts.ErrTokenExpired) {
			return nil
		}
		return fmt.Errorf("old token still verifies: %v", err)
	})
	// A refresh signs with the new key.
	s, err := h.Client.Auth.Refresh(ctx(t), old.RefreshToken)
	if err != nil || kidOf(t, s.AccessToken) != newKid {
		t.Fatalf("refresh after rotation: %v", err)
	}
}

func TestRotateKeyCommand(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	before, err := h.Client.Auth.Keys(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	// The operator command works on the database alone; the running service publishes the
	// new key at once (the key set is read from the database on every request).
	kid, err := auth.RotateKey(ctx(t), h.env(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	after, err := h.Client.Auth.Keys(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if ks := kids(after); len(ks) != 2 || !slices.Contains(ks, kid) || !slices.Contains(ks, before.Keys[0].Kid) {
		t.Fatalf("key set after the command: %v", ks)
	}
	var active string
	if err := h.Postgres.QueryRow(ctx(t), `SELECT kid FROM signing_keys WHERE retired_at IS NULL`).Scan(&active); err != nil || active != kid {
		t.Fatalf("active key %s (%v), want %s", active, err, kid)
	}
}

func TestRetiredKeysLeaveTheSet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, settings{"ACCESS_TOKEN_TTL": "1s"})
	first := kids(mustKeys(t, h))[0]
	if _, err := h.Component.RotateKey(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// Pretend the rotation happened long ago: the old key's tokens have all expired.
	if _, err := h.Postgres.Exec(ctx(t), `UPDATE signing_keys SET retired_at = now() - interval '1 hour' WHERE kid = $1`, first); err != nil {
		t.Fatal(err)
	}
	if ks := kids(mustKeys(t, h)); len(ks) != 1 || ks[0] == first {
		t.Fatalf("key set %v still holds the long-retired key %s", ks, first)
	}
}

func mustKeys(t *testing.T, h *harness) contracts.KeySet {
	t.Helper()
	set, err := h.Client.Auth.Keys(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestTokensFromForeignKeysAreRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	u, _ := h.signup(contracts.RoleSeller)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	set := mustKeys(t, h)
	// Signed by an attacker's key but naming the service's kid.
	tok, _, err := authn.Issue(priv, set.Keys[0].Kid, u.Principal(), time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Client.Auth.Me(bus.WithAuthToken(ctx(t), tok))
	moatest.WantError(t, err, contracts.ErrTokenInvalid, "")
	_, err = authn.NewVerifier(h.Runtime.Client()).Verify(ctx(t), tok)
	moatest.WantError(t, err, contracts.ErrTokenInvalid, "")
}

func TestSigningKeysEncryptedAtRest(t *testing.T) {
	t.Parallel()
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	s := settings{"KEY_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(kek)}
	h := newHarness(t, s)
	var enc string
	var blob []byte
	if err := h.Postgres.QueryRow(ctx(t), `SELECT encryption, private_key FROM signing_keys`).Scan(&enc, &blob); err != nil {
		t.Fatal(err)
	}
	if enc != "aes-256-gcm" || len(blob) != 12+ed25519.SeedSize+16 {
		t.Fatalf("stored key: encryption %q, %d bytes", enc, len(blob))
	}
	// Tokens work as usual.
	u, pw := h.signup(contracts.RoleConsumer)
	sess := h.login(u.Email, pw)
	if _, err := h.Client.Auth.Me(bus.WithAuthToken(ctx(t), sess.AccessToken)); err != nil {
		t.Fatal(err)
	}

	// A replica with a different key-encryption key refuses to start rather than sign with a
	// key it cannot read.
	other := make([]byte, 32)
	_, _ = rand.Read(other)
	rt := moatest.Runtime(t, h.NATS)
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	comp, err := auth.Start(c, h.env(rt, settings{"KEY_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(other)}))
	if err == nil {
		_ = comp.Stop(c)
		t.Fatal("started with the wrong key-encryption key")
	}
	// So does one with a malformed setting.
	_, err = auth.Start(c, h.env(rt, settings{"KEY_ENCRYPTION_KEY": "c2hvcnQ="}))
	if err == nil {
		t.Fatal("started with a 5-byte key-encryption key")
	}
}

// Without MOA_AUTH_OPERATOR_SECRET no operator token is issued, whatever is presented; with
// it, only for that secret.
func TestOperatorTokensNeedTheSecret(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, err := bus.Call(ctx(t), h.Runtime.Client(), contracts.AuthOperatorToken, contracts.OperatorTokenRequest{Secret: "anything-at-all-123"})
	moatest.WantError(t, err, contracts.ErrForbidden, "")
	// A token with the operator role verifies (the role is known), and carries no account.
	h2 := newHarness(t, settings{"OPERATOR_SECRET": "a-secret-of-16-chars"})
	// With a secret, only that secret gets one.
	_, err = bus.Call(ctx(t), h2.Runtime.Client(), contracts.AuthOperatorToken, contracts.OperatorTokenRequest{Secret: "a-secret-of-16-charsx"})
	moatest.WantError(t, err, contracts.ErrInvalidCredentials, "", "operator token for a wrong secret")
	tok, err := bus.Call(ctx(t), h2.Runtime.Client(), contracts.AuthOperatorToken, contracts.OperatorTokenRequest{Secret: "a-secret-of-16-chars"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := h2.Component.App().Keys().Verifier().Verify(ctx(t), tok.AccessToken)
	if err != nil || p.Role != contracts.RoleOperator || p.UserID != contracts.OperatorUserID {
		t.Fatalf("operator token: %+v, %v", p, err)
	}
}
