package auth_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

func TestSignupLoginMe(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	c := ctx(t)
	u, err := h.Client.Auth.Signup(c, contracts.SignupRequest{
		Email: "  Kim.Minji@Example.COM ", Password: "비밀번호-long-enough", Role: contracts.RoleSeller, DisplayName: " 김민지 ",
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "kim.minji@example.com" || u.DisplayName != "김민지" || u.Role != contracts.RoleSeller || u.ID == "" || u.CreatedAt.IsZero() {
		t.Fatalf("signup returned %+v", u)
	}

	// Login accepts the email in any case and spacing.
	s, err := h.Client.Auth.Login(c, "KIM.MINJI@example.com ", "비밀번호-long-enough")
	if err != nil {
		t.Fatal(err)
	}
	if s.TokenType != "Bearer" || s.RefreshToken == "" || s.User.ID != u.ID {
		t.Fatalf("session %+v", s)
	}
	if ttl := time.Until(s.ExpiresAt); ttl < 14*time.Minute || ttl > 15*time.Minute+time.Second {
		t.Fatalf("access token expires in %v, want about 15m", ttl)
	}
	if ttl := time.Until(s.RefreshExpiresAt); ttl < 29*24*time.Hour {
		t.Fatalf("refresh token expires in %v", ttl)
	}

	// The token is an EdDSA JWT with a kid, verifiable by any service with the public keys.
	var claims jwt.MapClaims
	tok, _, err := jwt.NewParser().ParseUnverified(s.AccessToken, &claims)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Method.Alg() != "EdDSA" || tok.Header["kid"] == "" || claims["sub"] != u.ID || claims["role"] != "seller" ||
		claims["email"] != u.Email || claims["name"] != "김민지" || claims["iss"] != contracts.AccessTokenIssuer {
		t.Fatalf("token header %v claims %v", tok.Header, claims)
	}
	p, err := authn.NewVerifier(h.Runtime.Client()).Verify(c, s.AccessToken)
	if err != nil || p != u.Principal() {
		t.Fatalf("Verify = %+v, %v; want %+v", p, err, u.Principal())
	}

	me, err := h.Client.Auth.Me(bus.WithAuthToken(c, s.AccessToken))
	if err != nil || me != u {
		t.Fatalf("Me = %+v, %v; want %+v", me, err, u)
	}
	_, err = h.Client.Auth.Me(c)
	moatest.WantError(t, err, contracts.ErrUnauthenticated, "")
	_, err = h.Client.Auth.Me(bus.WithAuthToken(c, "garbage"))
	moatest.WantError(t, err, contracts.ErrTokenInvalid, "")
	_, err = h.Client.Auth.Me(bus.WithAuthToken(c, s.AccessToken[:len(s.AccessToken)-4]+"AAAA"))
	moatest.WantError(t, err, contracts.ErrTokenInvalid, "")

	// The password is stored as an argon2id hash only.
	var stored string
	if err := h.Postgres.QueryRow(c, `SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(stored, "long-enough") {
		t.Fatalf("stored password hash %q", stored)
	}
}

// raw lets a test send JSON the typed client could never produce.
var rawSignup = contracts.Endpoint[map[string]any, contracts.User]{Service: contracts.AuthService, Name: "signup", Timeout: 10 * time.Second}

func TestSignupValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ok := contracts.SignupRequest{Email: "ok@example.com", Password: "correct horse battery", Role: contracts.RoleConsumer, DisplayName: "Ok"}
	cases := []struct {
		name  string
		edit  func(r *contracts.SignupRequest)
		field string
	}{
		{"empty email", func(r *contracts.SignupRequest) { r.Email = "" }, "email"},
		{"no at", func(r *contracts.SignupRequest) { r.Email = "example.com" }, "email"},
		{"no dot in domain", func(r *contracts.SignupRequest) { r.Email = "a@localhost" }, "email"},
		{"display-name form", func(r *contracts.SignupRequest) { r.Email = "A <a@example.com>" }, "email"},
		{"space inside", func(r *contracts.SignupRequest) { r.Email = "a b@example.com" }, "email"},
		{"too long email", func(r *contracts.SignupRequest) {
			r.Email = strings.Repeat("a", 60) + "@" + strings.Repeat("b", 200) + ".com"
		}, "email"},
		{"empty password", func(r *contracts.SignupRequest) { r.Password = "" }, "password"},
		{"short password", func(r *contracts.SignupRequest) { r.Password = "1234567" }, "password"},
		{"long password", func(r *contracts.SignupRequest) { r.Password = strings.Repeat("p", contracts.MaxPasswordLen+1) }, "password"},
		{"unknown role", func(r *contracts.SignupRequest) { r.Role = "admin" }, "role"},
		{"empty role", func(r *contracts.SignupRequest) { r.Role = "" }, "role"},
		{"blank name", func(r *contracts.SignupRequest) { r.DisplayName = "  " }, "display_name"},
		{"long name", func(r *contracts.SignupRequest) { r.DisplayName = strings.Repeat("n", 65) }, "display_name"},
		{"control char in name", func(r *contracts.SignupRequest) { r.DisplayName = "a\x00b" }, "display_name"},
	}
	for _, tc := range cases {
		req := ok
		tc.edit(&req)
		_, err := h.Client.Auth.Signup(ctx(t), req)
		if err == nil {
			t.Fatalf("%s: signup accepted %+v", tc.name, req)
		}
		moatest.WantError(t, err, contracts.ErrValidation, tc.field)
	}

	// Shape errors from the runtime: a missing required field and an unknown one.
	_, err := bus.Call(ctx(t), h.Runtime.Client(), rawSignup, map[string]any{"email": "a@example.com", "password": "correct horse battery", "role": "consumer"})
	moatest.WantError(t, err, contracts.ErrValidation, "display_name")
	_, err = bus.Call(ctx(t), h.Runtime.Client(), rawSignup, map[string]any{"email": "a@example.com", "password": "correct horse battery",
		"role": "consumer", "display_name": "A", "is_admin": true})
	moatest.WantError(t, err, contracts.ErrUnknownField, "is_admin")
	_, err = bus.Call(ctx(t), h.Runtime.Client(), rawSignup, map[string]any{"email": 7, "password": "correct horse battery", "role": "consumer", "display_name": "A"})
	moatest.WantError(t, err, contracts.ErrValidation, "email")

	// None of it left an account behind.
	var n int
	if err := h.Postgres.QueryRow(ctx(t), `SELECT count(*) FROM users`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d users after only invalid signups (%v)", n, err)
	}

	// Login, refresh and logout validate too.
	_, err = h.Client.Auth.Login(ctx(t), "not-an-email", "x")
	moatest.WantError(t, err, contracts.ErrValidation, "email")
	_, err = h.Client.Auth.Login(ctx(t), "a@example.com", "")
	moatest.WantError(t, err, contracts.ErrValidation, "password")
	_, err = h.Client.Auth.Refresh(ctx(t), " ")
	moatest.WantError(t, err, contracts.ErrValidation, "refresh_token")
	err = h.Client.Auth.Logout(ctx(t), "")
	moatest.WantError(t, err, contracts.ErrValidation, "refresh_token")
}

func TestSignupEmailIsUnique(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	req := contracts.SignupRequest{Email: "dup@example.com", Password: "correct horse battery", Role: contracts.RoleConsumer, DisplayName: "One"}
	if _, err := h.Client.Auth.Signup(ctx(t), req); err != nil {
		t.Fatal(err)
	}
	req.Email, req.Role = "  DUP@Example.com", contracts.RoleSeller
	_, err := h.Client.Auth.Signup(ctx(t), req)
	moatest.WantError(t, err, contracts.ErrAlreadyExists, "email")
}

func TestUserSignedUpEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	u, _ := h.signup(contracts.RoleSeller)
	_, err := h.Client.Auth.Signup(ctx(t), contracts.SignupRequest{Email: u.Email, Password: "correct horse battery", Role: contracts.RoleSeller, DisplayName: "Dup"})
	moatest.WantError(t, err, contracts.ErrAlreadyExists, "email")

	// Exactly one event on the stream: the failed (duplicate) signup emitted nothing.
	env := h.WaitEvents(t, "evt.auth.>", 1)[0]
	var data contracts.UserSignedUp
	if err := json.Unmarshal(env.Data, &data); err != nil {
		t.Fatal(err)
	}
	if env.Type != "auth.user_signed_up" || env.Source != "auth" || env.Key != u.ID ||
		data != (contracts.UserSignedUp{UserID: u.ID, Email: u.Email, Role: contracts.RoleSeller, DisplayName: "User"}) {
		t.Fatalf("event %+v data %+v", env, data)
	}
}

func TestKeysEndpointIsPublic(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	set, err := h.Client.Auth.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("%d keys on a fresh service, want 1", len(set.Keys))
	}
	k := set.Keys[0]
	if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" || k.Use != "sig" {
		t.Fatalf("key %+v", k)
	}
	pub, err := authn.ParseJWK(k)
	if err != nil || authn.Thumbprint(pub) != k.Kid {
		t.Fatalf("kid %s is not the key's thumbprint (%v)", k.Kid, err)
	}
}

func TestSignupRefusesWeakPasswords(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for _, pw := range []string{"password", "12345678", "        ", "\t \u00a0 \u3000  \t", "aaaaaaaaaaa", "ééééééééé",
		"PassWord1", "qwertyuiop", "iloveyou2024", "1q2w3e4r5t"} {
		_, err := h.Client.Auth.Signup(ctx(t), contracts.SignupRequest{Email: "weak-" + uuid.NewString()[:8] + "@example.com",
			Password: pw, Role: contracts.RoleConsumer, DisplayName: "Weak"})
		if err == nil {
			t.Fatalf("signup accepted the password %q", pw)
		}
		moatest.WantError(t, err, contracts.ErrValidation, "password")
	}
	// A long, uncommon password is still fine.
	if _, err := h.Client.Auth.Signup(ctx(t), contracts.SignupRequest{Email: "strong@example.com",
		Password: "violet staple 93 kettle", Role: contracts.RoleConsumer, DisplayName: "Strong"}); err != nil {
		t.Fatal(err)
	}
}

// TestSignupRefusesLookAlikeEmails: an address that renders like an existing one either is
// that account (its canonical form is the same) or is refused; it never makes a second one.
func TestSignupRefusesLookAlikeEmails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	signup := func(email string) error {
		_, err := h.Client.Auth.Signup(ctx(t), contracts.SignupRequest{Email: email, Password: "violet staple 93 kettle",
			Role: contracts.RoleConsumer, DisplayName: "Look"})
		return err
	}
	for _, email := range []string{"paypal@example.com", "jos\u00e9@example.com"} {
		if err := signup(email); err != nil {
			t.Fatalf("signup %q: %v", email, err)
		}
	}
	// Same account once normalised: NFD accents, full-width letters, case.
	for _, email := range []string{"jose\u0301@example.com", "ｐａｙｐａｌ@example.com", "paypal@ｅｘａｍｐｌｅ.com", "PayPal@EXAMPLE.com"} {
		moatest.WantError(t, signup(email), contracts.ErrAlreadyExists, "email")
	}
	// Refused: invisible characters and mixed scripts in the local part or a domain label.
	for name, email := range map[string]string{
		"zero-width space":       "pay\u200bpal@example.com",
		"zero-width joiner":      "paypal\u200d@example.com",
		"soft hyphen":            "pay\u00adpal@example.com",
		"BOM in domain":          "paypal@exam\ufeffple.com",
		"bidi override":          "paypal\u202e@example.com",
		"Hangul filler":          "paypal\u3164@example.com",
		"Cyrillic a in local":    "p\u0430ypal@example.com",
		"Greek o in domain":      "paypal@ex\u03bfample.com",
		"Cyrillic e in TLD":      "paypal@example.\u0441om",
		"variation selector":     "paypal\ufe0f@example.com",
		"combining joiner":       "pay\u034fpal@example.com",
		"mixed Latin + Cyrillic": "\u0440aypal@example.com",
	} {
		err := signup(email)
		if err == nil {
			t.Fatalf("%s: signup accepted %q", name, email)
		}
		moatest.WantError(t, err, contracts.ErrValidation, "email")
	}
	// One script per part is fine, also outside Latin.
	for _, email := range []string{"почта@example.com", "почта@пример.рф", "山田たろう@example.jp", "user.1-2+tag@sub.example.com"} {
		if err := signup(email); err != nil {
			t.Fatalf("signup %q: %v", email, err)
		}
	}
	var n int
	if err := h.Postgres.QueryRow(ctx(t), `SELECT count(*) FROM users`).Scan(&n); err != nil || n != 6 {
		t.Fatalf("%d accounts, want 6 (%v)", n, err)
	}
}
