package domain

import (
	"time"

	"github.com/moa-run/moa/contracts"
)

// LoginPolicy bounds password guesses per account (keyed by normalised email, known or not,
// so the throttle itself does not reveal which emails have accounts).
//
// An attempt is counted before its password is checked and the count is reset by a success,
// so concurrent guesses cannot slip past the limit while others are still being hashed.
type LoginPolicy struct {
	MaxFailures int           // attempts allowed per window
	Window      time.Duration // fixed window starting at the first counted attempt
}

// DefaultLoginPolicy allows 5 failed logins per account per 15 minutes.
var DefaultLoginPolicy = LoginPolicy{MaxFailures: 5, Window: 15 * time.Minute}

// Check returns ErrTooManyAttempts when attempt number n of the window that started at
// windowStart is over the limit.
func (p LoginPolicy) Check(n int, windowStart, now time.Time) error {
	if n <= p.MaxFailures {
		return nil
	}
	wait := max(windowStart.Add(p.Window).Sub(now), time.Second)
	return contracts.ErrTooManyAttempts.Msg("too many failed logins for this account; try again in %s", wait.Round(time.Second))
}
