package moatest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moa-run/moa/moatest"
)

func TestPollSucceedsOnceTrue(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	err := moatest.Poll(t.Context(), time.Millisecond, func() error {
		if calls.Add(1) < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls.Load() != 3 {
		t.Fatalf("err %v after %d calls", err, calls.Load())
	}
}

func TestPollTimeoutWrapsLastError(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	errLast := errors.New("queue still empty")
	err := moatest.Poll(ctx, 5*time.Millisecond, func() error { return errLast })
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errLast) {
		t.Fatalf("err = %v, want both the deadline and the last error", err)
	}
}

// fakeT records a fatal failure the way testing.T does: by ending the
// calling goroutine.
type fakeT struct {
	testing.TB
	msg string
}

func (f *fakeT) Helper()      {}
func (f *fakeT) Name() string { return "fake" }
func (f *fakeT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failure runs fn against a fakeT and returns its failure message, "" if
// it did not fail.
func failure(fn func(testing.TB)) string {
	f := &fakeT{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.msg
}

func TestEventuallyFailsWithMessage(t *testing.T) {
	t.Parallel()
	start := time.Now()
	msg := failure(func(tb testing.TB) {
		moatest.Eventually(tb, 60*time.Millisecond, func() bool { return false }, "order %s shipped", "o-1")
	})
	if want := "moatest.Eventually: condition not met within 60ms: order o-1 shipped"; msg != want {
		t.Fatalf("failure = %q, want %q", msg, want)
	}
	if time.Since(start) < 60*time.Millisecond {
		t.Fatal("gave up before the timeout")
	}
	if msg := failure(func(tb testing.TB) {
		moatest.Eventually(tb, time.Second, func() bool { return true })
	}); msg != "" {
		t.Fatalf("true condition failed: %s", msg)
	}
}

func TestWaitForReportsLastError(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	msg := failure(func(tb testing.TB) {
		moatest.WaitFor(tb, 50*time.Millisecond, func() error {
			return fmt.Errorf("attempt %d: not ready", n.Add(1))
		})
	})
	if !strings.HasPrefix(msg, "moatest.WaitFor: not done within 50ms: last error: attempt ") ||
		!strings.HasSuffix(msg, fmt.Sprintf("attempt %d: not ready", n.Load())) {
		t.Fatalf("failure = %q", msg)
	}
	if n.Load() < 2 {
		t.Fatalf("polled %d times in 50ms", n.Load())
	}
}

func TestFreePort(t *testing.T) {
	t.Parallel()
	if p := moatest.FreePort(t); p <= 0 || p > 65535 {
		t.Fatalf("port %d", p)
	}
}
