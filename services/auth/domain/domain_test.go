package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/auth/domain"
)

// cheap keeps unit tests fast; the real parameters are exercised by the component tests.
var cheap = domain.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestPasswordHashRoundTrip(t *testing.T) {
	h, err := domain.HashPassword(cheap, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with the given parameters", h)
	}
	h2, _ := domain.HashPassword(cheap, "correct horse")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	ok, rehash, err := domain.VerifyPassword(cheap, h, "correct horse")
	if err != nil || !ok || rehash {
		t.Fatalf("right password: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
	ok, _, err = domain.VerifyPassword(cheap, h, "correct horsE")
	if err != nil || ok {
		t.Fatalf("wrong password: ok=%v err=%v", ok, err)
	}
	stronger := cheap
	stronger.Time = 2
	ok, rehash, _ = domain.VerifyPassword(stronger, h, "correct horse")
	if !ok || !rehash {
		t.Fatalf("after a parameter change: ok=%v rehash=%v, want true true", ok, rehash)
	}
}

func TestVerifyPasswordRejectsBadHashes(t *testing.T) {
	for _, h := range []string{
		"",
		"plaintext",
		"$2a$10$bcrypthashbcrypthashbcrypthashbcrypthashbcrypthash12",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA", // 4 GiB
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if _, _, err := domain.VerifyPassword(cheap, h, "x"); !errors.Is(err, domain.ErrBadHash) {
			t.Errorf("VerifyPassword(%q) err = %v, want ErrBadHash", h, err)
		}
	}
}

func TestNewAccountNormalises(t *testing.T) {
	a, err := domain.NewAccount("  Alice@Example.COM ", contracts.RoleSeller, "  Alice  ", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if a.Email != "alice@example.com" || a.DisplayName != "Alice" || a.ID == "" {
		t.Fatalf("got %+v", a)
	}
	cases := []struct {
		email, name string
		role        contracts.Role
		field       string
	}{
		{"", "A", contracts.RoleSeller, "email"},
		{"no-at-sign", "A", contracts.RoleSeller, "email"},
		{"a@nodot", "A", contracts.RoleSeller, "email"},
		{"a b@x.io", "A", contracts.RoleSeller, "email"},
		{"Bob <bob@x.io>", "A", contracts.RoleSeller, "email"},
		{"a@@x.io", "A", contracts.RoleSeller, "email"},
		{strings.Repeat("a", 250) + "@x.io", "A", contracts.RoleSeller, "email"},
		{"a@x.io", "A", "admin", "role"},
		{"a@x.io", "   ", contracts.RoleConsumer, "display_name"},
		{"a@x.io", strings.Repeat("가", 65), contracts.RoleConsumer, "display_name"},
		{"a@x.io", "bell\a", contracts.RoleConsumer, "display_name"},
	}
	for _, c := range cases {
		_, err := domain.NewAccount(c.email, c.role, c.name, time.Now())
		var ce *contracts.Error
		if !errors.As(err, &ce) || ce.Code != contracts.ErrValidation.Code || ce.Field != c.field {
			t.Errorf("NewAccount(%q, %q, %q) = %v, want validation_failed on %s", c.email, c.role, c.name, err, c.field)
		}
	}
	if _, err := domain.NewAccount("a@x.io", contracts.RoleConsumer, strings.Repeat("가", 64), time.Now()); err != nil {
		t.Errorf("64 Korean characters: %v", err)
	}
}

func TestRefreshTokenRules(t *testing.T) {
	tok, hash, err := domain.NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 43 || string(domain.HashRefreshToken(tok)) != string(hash) || len(hash) != 32 {
		t.Fatalf("token %q (len %d), hash len %d", tok, len(tok), len(hash))
	}
	now := time.Now()
	live := domain.RefreshToken{ExpiresAt: now.Add(time.Hour)}
	if err := live.CheckRefresh(now); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		t    domain.RefreshToken
		want *contracts.Error
	}{
		{domain.RefreshToken{ExpiresAt: now.Add(time.Hour), Used: true}, contracts.ErrTokenReused},
		{domain.RefreshToken{ExpiresAt: now.Add(time.Hour), Used: true, SessionRevoked: true}, contracts.ErrTokenInvalid},
		{domain.RefreshToken{ExpiresAt: now.Add(time.Hour), SessionRevoked: true}, contracts.ErrTokenInvalid},
		{domain.RefreshToken{ExpiresAt: now}, contracts.ErrTokenExpired},
	} {
		if err := c.t.CheckRefresh(now); !errors.Is(err, c.want) {
			t.Errorf("%+v: got %v, want %s", c.t, err, c.want.Code)
		}
	}
}

func TestLoginPolicy(t *testing.T) {
	p := domain.DefaultLoginPolicy
	start := time.Now()
	var pair, account domain.Attempts
	admit := func(now time.Time) (time.Duration, error) {
		np, na, slow, err := p.Admit(pair, account, now)
		if err == nil {
			pair, account = np, na
		}
		return slow, err
	}
	for n := 1; n <= 5; n++ {
		if _, err := admit(start); err != nil {
			t.Fatalf("attempt %d: %v", n, err)
		}
	}
	// Then 30 s, 1 min, 2 min...: each wait doubles, up to MaxDelay.
	wait := 30 * time.Second
	now := start
	for range 8 {
		if _, err := admit(now.Add(wait - time.Second)); !errors.Is(err, contracts.ErrTooManyAttempts) {
			t.Fatalf("%v into a %v wait: %v, want too_many_attempts", wait-time.Second, wait, err)
		}
		now = now.Add(wait)
		if _, err := admit(now); err != nil {
			t.Fatalf("after a %v wait: %v", wait, err)
		}
		wait = min(2*wait, p.MaxDelay)
	}
	if _, err := admit(now.Add(time.Minute)); !errors.Is(err, contracts.ErrTooManyAttempts) || !strings.Contains(err.Error(), "14m0s") {
		t.Fatalf("a minute into the longest wait: %v, want too_many_attempts with 14m0s to wait", err)
	}
	// Past the ceiling, a fresh address is admitted but slowed; a day of quiet forgets it all.
	pair, account.N = domain.Attempts{}, p.AccountCeiling
	if slow, err := admit(now); err != nil || slow != p.AccountDelay {
		t.Fatalf("fresh address on an account past its ceiling: slow %v, %v", slow, err)
	}
	if slow, err := admit(now.Add(p.Forget)); err != nil || slow != 0 || pair.N != 1 || account.N != 1 {
		t.Fatalf("after %v of quiet: slow %v, %v, counts %d %d", p.Forget, slow, err, pair.N, account.N)
	}
}

func TestSigningKeyPublication(t *testing.T) {
	now := time.Now()
	k, err := domain.NewSigningKey(now)
	if err != nil {
		t.Fatal(err)
	}
	ttl := 15 * time.Minute
	if !k.Published(now.Add(1000*time.Hour), ttl) {
		t.Fatal("the active key must stay published")
	}
	k.RetiredAt = now
	if !k.Published(now.Add(ttl), ttl) {
		t.Fatal("a retired key must stay published while tokens it signed can be valid")
	}
	if k.Published(now.Add(ttl+domain.KeyRetentionSlack), ttl) {
		t.Fatal("a retired key must be dropped once its tokens have expired")
	}
	k2, _ := domain.NewSigningKey(now)
	if k2.ID == k.ID || len(k.ID) != 43 {
		t.Fatalf("kids %q and %q", k.ID, k2.ID)
	}
}
