package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
)

// BenchmarkSyncAlwaysCost measures what fsync on every JetStream write costs on this machine:
// acknowledged publishes per second on the embedded server without and with SyncAlways, in the
// same run, one publish in flight (a request waiting on its event) and 256 in flight (the outbox
// relay's batch). b.N publishes per server and shape; the metrics are the rates and the ratio.
// `moa dev`'s --nats-sync-always default is chosen from this figure (README, "Durability").
//
//	go test -run '^$' -bench BenchmarkSyncAlwaysCost -benchtime 2000x ./bus/
func BenchmarkSyncAlwaysCost(b *testing.B) {
	for _, window := range []int{1, 256} {
		b.Run(fmt.Sprintf("inflight=%d", window), func(b *testing.B) {
			off := publishRate(b, false, window)
			on := publishRate(b, true, window)
			b.ReportMetric(off, "pub/s-nosync")
			b.ReportMetric(on, "pub/s-sync")
			b.ReportMetric(off/on, "slowdown")
			b.Logf("inflight=%d: %.0f acked publishes/s without sync, %.0f with SyncAlways: %.1fx slower", window, off, on, off/on)
		})
	}
}

// publishRate starts an embedded server (sync or not) on a fresh store and returns b.N acked
// publishes divided by the time they took, with at most window in flight.
func publishRate(b *testing.B, sync bool, window int) float64 {
	b.Helper()
	s, err := bus.StartEmbedded(bus.EmbeddedConfig{Port: -1, StoreDir: b.TempDir(), SyncAlways: sync})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(window))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SYNC", Subjects: []string{"sync.>"}, Storage: jetstream.FileStorage}); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 512) // about an event envelope
	b.ResetTimer()
	start := time.Now()
	if window == 1 {
		for i := range b.N {
			if _, err := js.Publish(ctx, "sync.e", payload, jetstream.WithMsgID(fmt.Sprint(i))); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		for i := range b.N {
			if _, err := js.PublishAsync("sync.e", payload, jetstream.WithMsgID(fmt.Sprint(i))); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			b.Fatal("publishes not acknowledged")
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	return float64(b.N) / elapsed.Seconds()
}
