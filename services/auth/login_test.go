package auth_test

import (
	"testing"

	"github.com/moa-run/moa/contracts"
)

func TestLoginFailuresLookAlike(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	u, _ := h.signup(contracts.RoleConsumer)
	_, errWrong := h.c.Auth.Login(ctx(t), u.Email, "wrong-password")
	_, errUnknown := h.c.Auth.Login(ctx(t), "nobody@example.com", "wrong-password")
	wantErr(t, errWrong, contracts.ErrInvalidCredentials, "")
	wantErr(t, errUnknown, contracts.ErrInvalidCredentials, "")
	a, b := contracts.AsError(errWrong), contracts.AsError(errUnknown)
	if a.Message != b.Message || a.Field != b.Field || a.Kind != b.Kind {
		t.Fatalf("unknown email and wrong password differ: %+v vs %+v", a, b)
	}
}

func TestLoginRateLimitIsPerAccountAndShared(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	victim, pw := h.signup(contracts.RoleConsumer)
	other, otherPw := h.signup(contracts.RoleConsumer)

	// A second replica on the same database: the count is in PostgreSQL, so failures spread
	// over both replicas add up.
	rt2, _ := h.startInstance(nil)
	auth2 := authClient(rt2)
	for i := range 5 {
		var err error
		if i%2 == 0 {
			_, err = h.c.Auth.Login(ctx(t), victim.Email, "wrong-password")
		} else {
			_, err = auth2.Login(ctx(t), victim.Email, "wrong-password")
		}
		wantErr(t, err, contracts.ErrInvalidCredentials, "")
	}
	// Now even the right password is refused, on either replica.
	_, err := h.c.Auth.Login(ctx(t), victim.Email, pw)
	wantErr(t, err, contracts.ErrTooManyAttempts, "")
	_, err = auth2.Login(ctx(t), victim.Email, pw)
	wantErr(t, err, contracts.ErrTooManyAttempts, "")
	// Other accounts are not affected.
	h.login(other.Email, otherPw)
	// Unknown emails are throttled exactly like known ones (no oracle in the throttle).
	for range 5 {
		_, err := h.c.Auth.Login(ctx(t), "ghost@example.com", "wrong-password")
		wantErr(t, err, contracts.ErrInvalidCredentials, "")
	}
	_, err = h.c.Auth.Login(ctx(t), "ghost@example.com", "wrong-password")
	wantErr(t, err, contracts.ErrTooManyAttempts, "")

	// Once the window has passed, the account can log in again, and success resets the count.
	if _, err := h.db.Exec(ctx(t), `UPDATE login_attempts SET window_start = window_start - interval '16 minutes' WHERE email = $1`, victim.Email); err != nil {
		t.Fatal(err)
	}
	h.login(victim.Email, pw)
	var n int
	if err := h.db.QueryRow(ctx(t), `SELECT count(*) FROM login_attempts WHERE email = $1`, victim.Email).Scan(&n); err != nil || n != 0 {
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
			_, err := h.c.Auth.Login(ctx(t), u.Email, "wrong-password")
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
