package auth_test

import (
	"testing"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

func TestRefreshRotatesAndReuseRevokesTheFamily(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	u, pw := h.signup(contracts.RoleConsumer)
	s1 := h.login(u.Email, pw)
	other := h.login(u.Email, pw) // a second session (another device)

	s2, err := h.Client.Auth.Refresh(ctx(t), s1.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if s2.RefreshToken == s1.RefreshToken || s2.AccessToken == s1.AccessToken || s2.User != u {
		t.Fatalf("refresh did not rotate: %+v", s2)
	}
	if me, err := h.Client.Auth.Me(bus.WithAuthToken(ctx(t), s2.AccessToken)); err != nil || me.ID != u.ID {
		t.Fatalf("Me with the refreshed token: %+v, %v", me, err)
	}
	s3, err := h.Client.Auth.Refresh(ctx(t), s2.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}

	// s1's token was spent: presenting it again means it was copied. The whole family goes.
	_, err = h.Client.Auth.Refresh(ctx(t), s1.RefreshToken)
	moatest.WantError(t, err, contracts.ErrTokenReused, "")
	_, err = h.Client.Auth.Refresh(ctx(t), s3.RefreshToken)
	moatest.WantError(t, err, contracts.ErrTokenInvalid, "")
	var reason string
	if err := h.Postgres.QueryRow(ctx(t), `SELECT s.revoke_reason FROM sessions s JOIN refresh_tokens t ON t.session_id = s.id
		WHERE t.token_hash = sha256($1::text::bytea)`, s1.RefreshToken).Scan(&reason); err != nil || reason != "reuse" {
		t.Fatalf("session revoke reason %q (%v), want reuse", reason, err)
	}

	// The other session is untouched.
	if _, err := h.Client.Auth.Refresh(ctx(t), other.RefreshToken); err != nil {
		t.Fatalf("refresh of an unrelated session: %v", err)
	}
	_, err = h.Client.Auth.Refresh(ctx(t), "not-a-token")
	moatest.WantError(t, err, contracts.ErrTokenInvalid, "")

	// Refresh tokens are stored hashed: the raw token appears nowhere in the table.
	var n int
	if err := h.Postgres.QueryRow(ctx(t), `SELECT count(*) FROM refresh_tokens WHERE position(convert_to($1, 'UTF8') in token_hash) > 0`,
		s3.RefreshToken).Scan(&n); err != nil || n != 0 {
		t.Fatalf("raw refresh token found in %d rows (%v)", n, err)
	}
}

func TestConcurrentRefreshOfOneTokenIsReuse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	u, pw := h.signup(contracts.RoleConsumer)
	s := h.login(u.Email, pw)
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := h.Client.Auth.Refresh(ctx(t), s.RefreshToken)
			errs <- err
		}()
	}
	var ok, reused, invalid int
	for range n {
		err := <-errs
		switch {
		case err == nil:
			ok++
		case contracts.AsError(err).Code == contracts.ErrTokenReused.Code:
			reused++
		case contracts.AsError(err).Code == contracts.ErrTokenInvalid.Code:
			invalid++
		default:
			t.Fatalf("unexpected %v", err)
		}
	}
	// Row locks serialise the refreshes: exactly one wins, the next is detected as reuse and
	// revokes the session, the rest find it revoked.
	if ok != 1 || reused != 1 || invalid != n-2 {
		t.Fatalf("ok=%d reused=%d invalid=%d, want 1, 1, %d", ok, reused, invalid, n-2)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	u, pw := h.signup(contracts.RoleSeller)
	a, b, c := h.login(u.Email, pw), h.login(u.Email, pw), h.login(u.Email, pw)

	if err := h.Client.Auth.Logout(ctx(t), a.RefreshToken); err != nil {
		t.Fatal(err)
	}
	_, err := h.Client.Auth.Refresh(ctx(t), a.RefreshToken)
	moatest.WantError(t, err, contracts.ErrTokenInvalid, "")
	if err := h.Client.Auth.Logout(ctx(t), a.RefreshToken); err != nil {
		t.Fatalf("logout is idempotent, second call: %v", err)
	}
	if _, err := h.Client.Auth.Refresh(ctx(t), b.RefreshToken); err != nil {
		t.Fatalf("logout of one session ended another: %v", err)
	}

	// Logout everywhere ends every session of the user, including ones refreshed since.
	if err := h.Client.Auth.LogoutAll(ctx(t), c.RefreshToken); err != nil {
		t.Fatal(err)
	}
	var live int
	if err := h.Postgres.QueryRow(ctx(t), `SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL`, u.ID).Scan(&live); err != nil || live != 0 {
		t.Fatalf("%d live sessions after logout everywhere (%v)", live, err)
	}
	err = h.Client.Auth.Logout(ctx(t), "unknown-token")
	moatest.WantError(t, err, contracts.ErrTokenInvalid, "")
}
