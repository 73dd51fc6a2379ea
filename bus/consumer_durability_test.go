package bus_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

var critical = contracts.StreamSpec{
	Name: "PAYMENTS", Subjects: []string{"evt.paytest.>"}, Storage: contracts.FileStorage, Replicas: 3,
	Retention: contracts.LimitsRetention, MaxAge: 24 * time.Hour, Duplicates: time.Hour, Critical: true,
}

func TestDurabilityGuardRefusesAWeakCriticalStream(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weaken  func(*jetstream.StreamConfig)
		problem string
	}{
		{"memory storage", func(c *jetstream.StreamConfig) { c.Storage = jetstream.MemoryStorage }, "memory storage"},
		{"work queue retention", func(c *jetstream.StreamConfig) { c.Retention = jetstream.WorkQueuePolicy }, "retention"},
		{"shorter max age", func(c *jetstream.StreamConfig) { c.MaxAge = time.Hour }, "max age"},
		{"shorter duplicate window", func(c *jetstream.StreamConfig) { c.Duplicates = time.Second }, "duplicate window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, _ := mbRuntime(t)
			cfg := bus.StreamConfig(critical, 1)
			tc.weaken(&cfg)
			if _, err := rt.JetStream().CreateStream(mbCtx(t), cfg); err != nil {
				t.Fatal(err)
			}
			err := rt.CheckDurability(mbCtx(t), critical)
			if !errors.Is(err, contracts.ErrStreamTooWeak) || !strings.Contains(err.Error(), tc.problem) {
				t.Fatalf("got %v, want %s naming %q", err, contracts.ErrStreamTooWeak.Code, tc.problem)
			}
			t.Logf("refused: %v", err)
			// The same weakness in a non-critical stream is only logged.
			lax := critical
			lax.Critical = false
			if err := rt.CheckDurability(mbCtx(t), lax); err != nil {
				t.Fatalf("non-critical stream refused: %v", err)
			}
		})
	}
}

func TestDurabilityGuardRefusesAMissingStream(t *testing.T) {
	rt, _ := mbRuntime(t)
	if err := rt.CheckDurability(mbCtx(t), critical); !errors.Is(err, contracts.ErrStreamTooWeak) {
		t.Fatalf("got %v, want %s", err, contracts.ErrStreamTooWeak.Code)
	}
}

func TestDurabilityGuardAcceptsADeclaredStreamOnASingleServer(t *testing.T) {
	rt, _ := mbRuntime(t)
	if err := rt.EnsureStreams(mbCtx(t), critical); err != nil {
		t.Fatal(err)
	}
	// R3 declared, R1 possible: the single-server cap is reported, not refused.
	if err := rt.CheckDurability(mbCtx(t), critical); err != nil {
		t.Fatal(err)
	}
}

// EnsureStreams cannot turn a memory stream into a file stream; it says why instead of
// passing on JetStream's error, so the service refuses to start with a clear message.
func TestEnsureStreamsNamesTheWeaknessItCannotFix(t *testing.T) {
	rt, _ := mbRuntime(t)
	cfg := bus.StreamConfig(critical, 1)
	cfg.Storage = jetstream.MemoryStorage
	if _, err := rt.JetStream().CreateStream(mbCtx(t), cfg); err != nil {
		t.Fatal(err)
	}
	err := rt.EnsureStreams(mbCtx(t), critical)
	if !errors.Is(err, contracts.ErrStreamTooWeak) || !strings.Contains(err.Error(), "memory storage") {
		t.Fatalf("got %v, want %s naming the storage", err, contracts.ErrStreamTooWeak.Code)
	}
}

// An operator who made a stream stronger than declared keeps it.
func TestEnsureStreamsNeverWeakensAStream(t *testing.T) {
	rt, _ := mbRuntime(t)
	cfg := bus.StreamConfig(critical, 1)
	cfg.MaxAge, cfg.Duplicates = 48*time.Hour, 2*time.Hour
	if _, err := rt.JetStream().CreateStream(mbCtx(t), cfg); err != nil {
		t.Fatal(err)
	}
	if err := rt.EnsureStreams(mbCtx(t), critical); err != nil {
		t.Fatal(err)
	}
	st, err := rt.JetStream().Stream(mbCtx(t), critical.Name)
	if err != nil {
		t.Fatal(err)
	}
	got := st.CachedInfo().Config
	if got.MaxAge != 48*time.Hour || got.Duplicates != 2*time.Hour {
		t.Fatalf("max age %v, duplicates %v: weakened to the declaration", got.MaxAge, got.Duplicates)
	}
}

// In a cluster the declared replica count is enforced: an R1 copy of an R3 critical stream is
// refused; EnsureStreams brings it to R3, and then the guard passes.
func TestDurabilityGuardCountsReplicasInACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	cluster := moatest.NATSCluster(t, 3)
	rt, err := bus.New(cluster.Conn(t), bus.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A fresh cluster's meta leader may still answer "not yet" (it once failed here so): the
	// stream is created as a start-up step would be.
	err = rt.Setup(ctx, "R1 copy of "+critical.Name, func(ctx context.Context) error {
		_, err := rt.JetStream().CreateStream(ctx, bus.StreamConfig(critical, 1))
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return nil // an attempt that timed out had created it
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = rt.CheckDurability(ctx, critical)
	if !errors.Is(err, contracts.ErrStreamTooWeak) || !strings.Contains(err.Error(), "1 replicas where 3 are declared") {
		t.Fatalf("got %v, want %s about replicas", err, contracts.ErrStreamTooWeak.Code)
	}
	t.Logf("refused: %v", err)
	if err := rt.EnsureStreams(ctx, critical); err != nil {
		t.Fatal(err)
	}
	moatest.WaitFor(t, 30*time.Second, func() error { return rt.CheckDurability(ctx, critical) })
}
