package auth_test

import (
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

func TestLoginFailuresLookAlike(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	u, _ := h.signup(contracts.RoleConsumer)
	_, errWrong := h.Client.Auth.Login(ctx(t), u.Email, "wrong-password")
	_, errUnknown := h.Client.Auth.Login(ctx(t), "nobody@example.com", "wrong-password")
	moatest.WantError(t, errWrong, contracts.ErrInvalidCredentials, "")
	moatest.WantError(t, errUnknown, contracts.ErrInvalidCredentials, "")
	a, b := contracts.AsError(errWrong), contracts.AsError(errUnknown)
	if a.Message != b.Message || a.Field != b.Field || a.Kind != b.Kind {
		t.Fatalf("unknown email and wrong password differ: %+v vs %+v", a, b)
	}
}

// rawLogin sends a login body as the edge does, with the client address it sets.
var rawLogin = contracts.Endpoint[map[string]any, contracts.Session]{Service: contracts.AuthService, Name: "login", Timeout: 10 * time.Second}

func loginFrom(t *testing.T, c *bus.Client, addr, email, pw string) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	_, err := bus.Call(ctx(t), c, rawLogin, map[string]any{"email": email, "password": pw, "client_addr": addr})
	return time.Since(start), err
}

// TestLoginAttackerCannotLockOutTheOwner: failures are throttled per (account, client
// address), so many wrong passwords from other addresses neither lock the owner out nor let
// the attacking addresses keep guessing; past the per-account ceiling every attempt on the
// account is slowed, the owner's included, but the right password still gets in.
func TestLoginAttackerCannotLockOutTheOwner(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	victim, pw := h.signup(contracts.RoleConsumer)
	c := h.Runtime.Client()
	attackers := []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5"}
	for _, a := range attackers {
		for range 5 {
			_, err := loginFrom(t, c, a, victim.Email, "wrong-password")
			moatest.WantError(t, err, contracts.ErrInvalidCredentials, "")
		}
		// The sixth try from that address waits, whatever the password: the throttle is no
		// oracle for the right one.
		_, err := loginFrom(t, c, a, victim.Email, "another-guess")
		moatest.WantError(t, err, contracts.ErrTooManyAttempts, "")
		_, err = loginFrom(t, c, a, victim.Email, pw)
		moatest.WantError(t, err, contracts.ErrTooManyAttempts, "")
	}
	// 25 failures on the account, over its ceiling: the owner, from elsewhere, gets in, slowed.
	took, err := loginFrom(t, c, "203.0.113.7", victim.Email, pw)
	if err != nil {
		t.Fatalf("the owner was refused after an attack from other addresses: %v", err)
	}
	if min := h.Component.App().Config().Login.AccountDelay; took < min {
		t.Errorf("login over the account ceiling took %v, want at least the account delay %v", took, min)
	}
	// Still throttled: the attacker's address, even after the owner's success.
	_, err = loginFrom(t, c, attackers[0], victim.Email, "wrong-password")
	moatest.WantError(t, err, contracts.ErrTooManyAttempts, "")

	// The wait grows: once the first delay is over the address gets one more try, then a
	// longer wait. Moving the stored attempts back in time stands in for waiting.
	if _, err := h.Postgres.Exec(ctx(t), `UPDATE login_throttle SET last_at = last_at - interval '31 seconds' WHERE email = $1 AND addr = $2`,
		victim.Email, attackers[1]); err != nil {
		t.Fatal(err)
	}
	_, err = loginFrom(t, c, attackers[1], victim.Email, "wrong-password")
	moatest.WantError(t, err, contracts.ErrInvalidCredentials, "")
	if _, err := h.Postgres.Exec(ctx(t), `UPDATE login_throttle SET last_at = last_at - interval '31 seconds' WHERE email = $1 AND addr = $2`,
		victim.Email, attackers[1]); err != nil {
		t.Fatal(err)
	}
	_, err = loginFrom(t, c, attackers[1], victim.Email, "wrong-password")
	moatest.WantError(t, err, contracts.ErrTooManyAttempts, "")
}

func TestLoginRateLimitIsPerAddressAndShared(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	victim, pw := h.signup(contracts.RoleConsumer)
	other, otherPw := h.signup(contracts.RoleConsumer)

	// A second replica on the same database: the count is in PostgreSQL, so failures spread
	// over both replicas add up.
	auth2 := h.Replica(t).Client.Auth
	for i := range 5 {
		var err error
		if i%2 == 0 {
			_, err = h.Client.Auth.Login(ctx(t), victim.Email, "wrong-password")
		} else {
			_, err = auth2.Login(ctx(t), victim.Email, "wrong-password")
		}
		moatest.WantError(t, err, contracts.ErrInvalidCredentials, "")
	}
	// Now, from the same (here: no) address, even the right password waits, on either replica.
	_, err := h.Client.Auth.Login(ctx(t), victim.Email, pw)
	moatest.WantError(t, err, contracts.ErrTooManyAttempts, "")
	_, err = auth2.Login(ctx(t), victim.Email, pw)
	moatest.WantError(t, err, contracts.ErrTooManyAttempts, "")
	// Other accounts are not affected.
	h.login(other.Email, otherPw)
	// Unknown emails are throttled exactly like known ones (no oracle in the throttle).
	for range 5 {
		_, err := h.Client.Auth.Login(ctx(t), "ghost@example.com", "wrong-password")
		moatest.WantError(t, err, contracts.ErrInvalidCredentials, "")
	}
	_, err = h.Client.Auth.Login(ctx(t), "ghost@example.com", "wrong-password")
	moatest.WantError(t, err, contracts.ErrTooManyAttempts, "")

	// Once the delay has passed, the account can log in again, and success resets the count
	// of its address.
	if _, err := h.Postgres.Exec(ctx(t), `UPDATE login_throttle SET last_at = last_at - interval '16 minutes' WHERE email = $1`, victim.Email); err != nil {
		t.Fatal(err)
	}
	h.login(victim.Email, pw)
	var n int
	if err := h.Postgres.QueryRow(ctx(t), `SELECT count(*) FROM login_throttle WHERE email = $1 AND addr <> '*'`, victim.Email).Scan(&n); err != nil || n != 0 {
		t.Fatalf("attempts after a successful login: %d (%v)", n, err)
	}
}

func TestLoginRateLimitHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	u, _ := h.signup(contracts.RoleConsumer)
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := h.Client.Auth.Login(ctx(t), u.Email, "wrong-password")
			errs <- err
		}()
	}
	var checked, limited int
	for range n {
		switch code := contracts.AsError(<-errs).Code; code {
		case contracts.ErrInvalidCredentials.Code:
			checked++
		case contracts.ErrTooManyAttempts.Code:
			limited++
		default:
			t.Fatalf("unexpected error %s", code)
		}
	}
	// Attempts are counted before the password is checked, so parallel guessing gets exactly
	// the allowance, not the allowance plus whatever was in flight.
	if checked != 5 || limited != n-5 {
		t.Fatalf("%d password checks and %d refusals for %d parallel guesses, want 5 and %d", checked, limited, n, n-5)
	}
}
