package system_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/system"
)

// A service checking a critical stream on `moa dev`'s embedded server (one server, so R1)
// makes /status show the durability guard's warnings: the replica cap always, the missing
// fsync only when the server does not sync always (read from the embedded server's options).
func TestStatusShowsDurabilityWarnings(t *testing.T) {
	checker := func(ctx context.Context, env bus.Env) (bus.Component, error) {
		return bus.Stopper(func(context.Context) error { return nil }), env.Runtime.CheckDurability(ctx, contracts.StreamDeadLetter)
	}
	for _, sync := range []bool{false, true} {
		sys := startSystem(t, system.Config{
			DataDir:  t.TempDir(),
			NATS:     system.NATSConfig{Addr: "127.0.0.1:0", SyncAlways: sync},
			HTTPAddr: "127.0.0.1:0",
			Logger:   quietLogger(),
			Registry: map[string]system.Registration{"checker": {Start: checker}},
		})
		code, body := httpGet(t, strings.TrimSuffix(sys.HTTPURL(), "/")+"/status")
		if code != http.StatusOK {
			t.Fatalf("/status = %d", code)
		}
		replicas := strings.Contains(body, "WARNING: critical stream capped to fewer replicas than declared") && strings.Contains(body, "stream=DLQ")
		fsync := strings.Contains(body, "does not fsync before acknowledging")
		t.Logf("sync always %v: replica warning %v, fsync warning %v", sync, replicas, fsync)
		if !replicas || fsync == sync {
			t.Errorf("sync always %v: /status shows replica warning %v, fsync warning %v; want true, %v:\n%s", sync, replicas, fsync, !sync, body)
		}
	}
}
