package search_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moa-run/moa/client/authn/authntest"
)

// latencies collects per-call durations from parallel workers.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B, elapsed time.Duration, unit string) {
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	q := func(p float64) float64 { return float64(l.d[int(p*float64(len(l.d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(len(l.d))/elapsed.Seconds(), unit)
}

// benchParallel runs call from 2×GOMAXPROCS callers and reports latency percentiles.
func benchParallel(b *testing.B, unit string, call func(ctx context.Context, i int) error) {
	var lat latencies
	var n atomic.Int64
	b.SetParallelism(2)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			t0 := time.Now()
			if err := call(context.Background(), i); err != nil {
				b.Error(err)
				return
			}
			lat.add(time.Since(t0))
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	lat.report(b, elapsed, unit)
}

// BenchmarkRecord measures search.v1.record end to end: typed client → NATS → token check →
// journal insert, recent upsert and trim, popular recount, applied mark. The store is the
// embedded FerretDB (SQLite), not MongoDB.
func BenchmarkRecord(b *testing.B) {
	f := start(b)
	users := make([]context.Context, 16)
	for i := range users {
		users[i] = f.Issuer.Context(context.Background(), authntest.Consumer())
	}
	benchParallel(b, "records/s", func(_ context.Context, i int) error {
		_, err := f.search.Record(users[i%len(users)], fmt.Sprintf("query %d", i%200))
		return err
	})
}

// BenchmarkSuggest measures search.v1.suggest for a signed-in caller over 400 recorded searches
// (200 distinct queries), matching on a two-character prefix.
func BenchmarkSuggest(b *testing.B) {
	f := start(b)
	me := f.Issuer.Context(context.Background(), authntest.Consumer())
	for i := range 400 {
		if _, err := f.search.Record(me, fmt.Sprintf("q%d item %d", i%10, i%200)); err != nil {
			b.Fatal(err)
		}
	}
	benchParallel(b, "suggests/s", func(_ context.Context, i int) error {
		_, err := f.search.Suggest(me, fmt.Sprintf("q%d", i%10), 0)
		return err
	})
}
