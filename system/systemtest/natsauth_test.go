package systemtest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/system"
	"github.com/moa-run/moa/system/systemtest"
)

// recordingTB keeps what Boot reports as test errors, so that a test can assert Boot fails a
// test it should fail.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) errors() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errs, "\n")
}

// Boot runs NATS as `moa dev` does: no anonymous client, each service as its own user with
// its production permissions, and a permissions violation during the test fails it (a
// refused request is only a timeout to the service, so it would pass otherwise).
func TestBootRunsServicesUnderTheirNATSUsersAndFailsOnAViolation(t *testing.T) {
	rec := &recordingTB{TB: t}
	// Registered first, so it runs after Boot's cleanup has reported.
	t.Cleanup(func() {
		got := rec.errors()
		if !strings.Contains(got, "Publish Violation") || !strings.Contains(got, "evt.billing.forged") {
			t.Errorf("Boot reported %q; want the catalog user's refused publish to evt.billing.forged", got)
		}
	})
	sys := systemtest.Boot(rec, systemtest.Services("catalog"))

	if nc, err := nats.Connect(sys.NATSURL()); err == nil {
		nc.Close()
		t.Error("an anonymous client connects to the test's NATS")
	}
	if got := rec.errors(); got != "" {
		t.Fatalf("Boot reported before any violation: %s", got)
	}
	nc, err := nats.Connect(sys.ServiceNATSURL("catalog"), nats.CustomInboxPrefix(system.InboxPrefix("catalog")),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})) // the violation is expected
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("evt.billing.forged", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	// The server handles the publish before the flush's ping.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}
