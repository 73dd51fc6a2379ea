package systemtest_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/system"
	"github.com/moa-run/moa/system/systemtest"
)

// lockedBuffer is a log destination safe for the system's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// On a single server the critical streams are capped to one replica: a warning, said once per
// stream, although every service (each on its own runtime and NATS user, as in moa dev) relies
// on the dead-letter stream and several on the catalog's (bus.WithSharedWarnings).
func TestCappedCriticalStreamWarnedOncePerProcess(t *testing.T) {
	logs := &lockedBuffer{}
	systemtest.Boot(t, systemtest.Configure(func(c *system.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}))
	checked := 0
	for _, s := range contracts.Streams() {
		if !s.Critical || s.Replicas < 2 {
			continue
		}
		n := 0
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "critical stream capped") && strings.Contains(l, "stream="+s.Name+" ") {
				n++
			}
		}
		if n > 1 {
			t.Errorf("%s: capped warning logged %d times, want once", s.Name, n)
		}
		if s.Name == contracts.StreamDeadLetter.Name {
			checked = n
		}
	}
	if checked != 1 {
		t.Fatalf("the dead-letter stream's capped warning logged %d times, want once:\n%s", checked, logs.String())
	}
}
