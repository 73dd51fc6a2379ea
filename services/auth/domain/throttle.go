package domain

import (
	"time"

	"github.com/moa-run/moa/contracts"
)

// LoginPolicy bounds password guesses without letting a stranger lock an owner out.
//
// Attempts are counted per (account, client address): after FreeFailures the address waits
// FirstDelay before its next try, twice as long after each further failure, up to MaxDelay,
// whatever password it sends (so the wait reveals nothing). Another address is not affected,
// so the owner still gets in while someone else guesses. Across all addresses an account has a
// ceiling: past AccountCeiling attempts every login of the account is slowed by AccountDelay,
// which bounds how fast many addresses together can guess, but is never refused for it.
//
// Accounts are keyed by normalised email, known or not, so the throttle does not reveal which
// emails have accounts. An attempt is counted before its password is checked (and undone by a
// success), so concurrent guesses cannot slip past the limit while others are still hashing.
type LoginPolicy struct {
	FreeFailures   int           // attempts per (account, address) before waits start
	FirstDelay     time.Duration // the first wait; it doubles with each further failure
	MaxDelay       time.Duration
	AccountCeiling int           // attempts on an account, all addresses, before logins are slowed
	AccountDelay   time.Duration // the slow-down past the ceiling
	Forget         time.Duration // counts with no attempt for this long start over
}

// DefaultLoginPolicy: 5 free tries per address, then 30 s, 1 min, 2 min... up to 15 min;
// past 20 attempts on an account, each of its logins takes a second longer.
var DefaultLoginPolicy = LoginPolicy{FreeFailures: 5, FirstDelay: 30 * time.Second, MaxDelay: 15 * time.Minute,
	AccountCeiling: 20, AccountDelay: time.Second, Forget: 24 * time.Hour}

// Attempts is what the throttle stores per (account, address) and per account.
type Attempts struct {
	N    int       // attempts counted (successes are taken back)
	Last time.Time // the last counted attempt
}

// Admit decides attempt now given the stored counts of its (account, address) pair and of
// its account. It returns the counts to store and how long to slow the attempt down, or
// ErrTooManyAttempts (with nothing to store) while the pair must wait.
func (p LoginPolicy) Admit(pair, account Attempts, now time.Time) (Attempts, Attempts, time.Duration, error) {
	if now.Sub(pair.Last) >= p.Forget {
		pair = Attempts{}
	}
	if now.Sub(account.Last) >= p.Forget {
		account = Attempts{}
	}
	if pair.N >= p.FreeFailures {
		if wait := pair.Last.Add(p.delay(pair.N)).Sub(now); wait > 0 {
			return pair, account, 0, contracts.ErrTooManyAttempts.Msg("too many failed logins from this address; try again in %s",
				max(wait.Round(time.Second), time.Second))
		}
	}
	var slow time.Duration
	if account.N >= p.AccountCeiling {
		slow = p.AccountDelay
	}
	pair.N, pair.Last = pair.N+1, now
	account.N, account.Last = account.N+1, now
	return pair, account, slow, nil
}

// delay is the wait after n counted attempts (n ≥ FreeFailures).
func (p LoginPolicy) delay(n int) time.Duration {
	d := p.FirstDelay
	for i := p.FreeFailures; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	return min(d, p.MaxDelay)
}
