package bus_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/internal/bench"
)

// The request-reply and consumer paths of cmd/moabench as Go benchmarks (ns/op, allocs), for
// profiling: go test ./bus -run '^$' -bench . -cpuprofile cpu.out. The tables with p50/p99
// and ratios come from `go run ./cmd/moabench`.

func benchEnv(b *testing.B) *bench.Env {
	b.Helper()
	env, err := bench.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(env.Close)
	return env
}

func BenchmarkRequestReply(b *testing.B) {
	env := benchEnv(b)
	rr, err := bench.NewReqReply(env)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rr.Close)
	for _, path := range []struct {
		name string
		op   func() error
	}{{"raw", rr.Raw}, {"raw-concurrent", rr.RawConcurrent}, {"typed", rr.Plain}, {"resilient", rr.Resilient}} {
		for _, callers := range []int{1, 32} {
			b.Run(fmt.Sprintf("%s/callers=%d", path.name, callers), func(b *testing.B) {
				b.ReportAllocs()
				// RunParallel starts parallelism×GOMAXPROCS goroutines.
				b.SetParallelism(max(callers/max(1, testingProcs()), 1))
				if callers == 1 {
					for b.Loop() {
						if err := path.op(); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := path.op(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

func BenchmarkConsume(b *testing.B) {
	env := benchEnv(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := bench.NewConsumers(ctx, env, 5000)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	runs := 0
	for _, path := range []struct {
		name string
		run  func(durable string) (bench.Sample, error)
	}{
		{"raw", func(d string) (bench.Sample, error) { return c.Raw(ctx, d, 0) }},
		{"typed", func(d string) (bench.Sample, error) { return c.Typed(ctx, d, 0) }},
		{"typed-keyed-32", func(d string) (bench.Sample, error) {
			return c.Typed(ctx, d, 0, bus.WithKey(bus.SubjectKey), bus.WithConcurrency(32))
		}},
	} {
		b.Run(path.name, func(b *testing.B) {
			var msgs int
			var took time.Duration
			for b.Loop() {
				runs++
				s, err := path.run(fmt.Sprintf("gobench_%d", runs))
				if err != nil {
					b.Fatal(err)
				}
				msgs += s.Ops
				took += s.Elapsed
			}
			b.ReportMetric(float64(msgs)/took.Seconds(), "msgs/s")
		})
	}
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }
