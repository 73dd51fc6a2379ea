package system_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
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

// The durability guard keeps watching after the start, and /readyz and /status say what it
// finds: on a 3-node cluster, an operator editing the dead-letter stream down to R1 shows as
// checks.durability (with the detail in "durability") while the process stays ready, and on
// the status page; nothing raises the stream back behind the operator's back.
func TestReadyzAndStatusShowWhatTheGuardWatches(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	cluster := moatest.NATSCluster(t, 3)
	checker := func(ctx context.Context, env bus.Env) (bus.Component, error) {
		return bus.Stopper(func(context.Context) error { return nil }), env.Runtime.CheckDurability(ctx, contracts.StreamDeadLetter)
	}
	sys := startSystem(t, system.Config{
		DataDir:         t.TempDir(),
		NATS:            system.NATSConfig{URL: cluster.URLs()},
		HTTPAddr:        "127.0.0.1:0",
		Logger:          quietLogger(),
		DurabilityWatch: 100 * time.Millisecond,
		Registry:        map[string]system.Registration{"checker": {Start: checker}},
	})
	base := strings.TrimSuffix(sys.HTTPURL(), "/")
	readyz := func() (int, system.Readiness) {
		code, body := httpGet(t, base+"/readyz")
		var r system.Readiness
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("/readyz body %q: %v", body, err)
		}
		return code, r
	}
	if code, r := readyz(); code != http.StatusOK || r.Checks["durability"] != "ok" {
		t.Fatalf("/readyz before = %d %+v, want 200 and durability ok", code, r)
	}

	// nats stream edit DLQ --replicas 1
	if _, err := sys.Runtime().JetStream().UpdateStream(ctxFor(t, 30*time.Second), bus.StreamConfig(contracts.StreamDeadLetter, 1)); err != nil {
		t.Fatal(err)
	}
	want := "DLQ: 1 replicas where 3 are declared"
	moatest.WaitFor(t, 30*time.Second, func() error {
		code, r := readyz()
		if !strings.Contains(r.Checks["durability"], want) {
			return fmt.Errorf("/readyz checks.durability = %q, want %q", r.Checks["durability"], want)
		}
		if code != http.StatusOK || !r.Ready {
			return fmt.Errorf("/readyz = %d, ready %v: a weakened stream must not take the process out of service", code, r.Ready)
		}
		if len(r.Durability) != 1 || r.Durability[0].Stream != "DLQ" {
			return fmt.Errorf("/readyz durability detail = %+v, want the DLQ", r.Durability)
		}
		return nil
	})
	if _, body := httpGet(t, base+"/status"); !strings.Contains(body, "<strong>DLQ</strong>: 1 replicas where 3 are declared") {
		t.Errorf("/status does not show the guard's finding:\n%s", body)
	}
	if _, body := httpGet(t, base+"/metrics"); !strings.Contains(body, `moa_stream_durability_problems{stream="DLQ"} 1`) {
		t.Errorf("/metrics has no moa_stream_durability_problems{stream=\"DLQ\"} 1")
	}
	st, err := sys.Runtime().JetStream().Stream(ctxFor(t, 30*time.Second), "DLQ")
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().Config.Replicas; n != 1 {
		t.Errorf("the DLQ is R%d: raised back while running", n)
	}
}
