package moatest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// PollInterval is how often Eventually and WaitFor re-check.
const PollInterval = 15 * time.Millisecond

// Poll calls fn right away and then every interval until it returns nil
// or ctx ends. On timeout the error wraps both ctx's error and fn's last
// error, so errors.Is works for either.
func Poll(ctx context.Context, interval time.Duration, fn func() error) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last error: %w", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

var errFalse = errors.New("condition returned false")

// Eventually fails the test (t.Fatalf) unless cond returns true within
// timeout. msgAndArgs describe the condition: a format string and its
// arguments, as for t.Fatalf. cond must return promptly: a call that
// blocks past the timeout delays the failure.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	ok := pollFor(timeout, func() error {
		if cond() {
			return nil
		}
		return errFalse
	}) == nil
	if !ok {
		t.Fatalf("moatest.Eventually: condition not met within %s%s", timeout, describe(msgAndArgs))
	}
}

// WaitFor fails the test (t.Fatalf) unless fn returns nil within timeout,
// quoting fn's last error. fn must return promptly, as for Eventually.
func WaitFor(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	if last := pollFor(timeout, fn); last != nil {
		t.Fatalf("moatest.WaitFor: not done within %s: last error: %v", timeout, last)
	}
}

// pollFor polls fn for up to timeout and returns its last error, nil when
// it succeeded.
func pollFor(timeout time.Duration, fn func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	if Poll(ctx, PollInterval, func() error { last = fn(); return last }) == nil {
		return nil
	}
	return last
}

func describe(msgAndArgs []any) string {
	if len(msgAndArgs) == 0 {
		return ""
	}
	if format, ok := msgAndArgs[0].(string); ok {
		return ": " + fmt.Sprintf(format, msgAndArgs[1:]...)
	}
	return ": " + fmt.Sprint(msgAndArgs...)
}
