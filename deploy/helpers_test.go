package deploy_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// testLogger logs to the test log (shown on failure) until the test's last cleanup.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, nil))
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// userConn is a connection as one nats.conf user that records permission violations.
type userConn struct {
	nc   *nats.Conn
	mu   sync.Mutex
	errs []error
}

func connectAs(t *testing.T, url, user string) *userConn {
	t.Helper()
	u := &userConn{}
	opts := []nats.Option{nats.UserInfo(user, natsPassword(user))}
	if user != "ops" {
		// as `moa serve <user>` connects: its user may read replies in its own inbox space only
		opts = append(opts, nats.CustomInboxPrefix(system.InboxPrefix(user)))
	}
	nc, err := nats.Connect(url, append(opts,
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			u.mu.Lock()
			u.errs = append(u.errs, err)
			u.mu.Unlock()
		}))...)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	u.nc = nc
	return u
}

// mustBeDenied runs op and waits for the server's permissions violation, which arrives
// asynchronously.
func (u *userConn) mustBeDenied(t *testing.T, what string, op func() error) {
	t.Helper()
	u.mu.Lock()
	u.errs = nil
	u.mu.Unlock()
	if err := op(); err != nil {
		if errors.Is(err, nats.ErrPermissionViolation) {
			return
		}
		t.Fatalf("%s: %v", what, err)
	}
	_ = u.nc.Flush()
	moatest.Eventually(t, 10*time.Second, func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		for _, err := range u.errs {
			if errors.Is(err, nats.ErrPermissionViolation) {
				return true
			}
		}
		return false
	}, "a permissions violation when trying to "+what)
}
