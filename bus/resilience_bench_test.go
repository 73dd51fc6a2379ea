package bus

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/contracts"
)

// BenchmarkResilienceLayer measures the resilience middleware alone on the healthy path
// (bulkhead, budget deposit, breaker allow and record, no retry), around an invoker that
// answers at once: the absolute cost the layer adds to every call.
func BenchmarkResilienceLayer(b *testing.B) {
	nc := &nats.Conn{} // never used: the stub invoker does not send
	rt, err := New(nc)
	if err != nil {
		b.Skip("runtime needs a connection:", err)
	}
	ok := &Reply{}
	stub := func(context.Context, *Request) (*Reply, error) { return ok, nil }
	ep := contracts.EndpointInfo{Subject: "bench.v1.echo", Timeout: time.Second, Idempotent: true}
	for _, mode := range []string{"plain", "resilient"} {
		for _, par := range []int{1, 16} { // 16×GOMAXPROCS goroutines: lock contention shows
			b.Run(fmt.Sprintf("%s/parallelism=%d", mode, par), func(b *testing.B) {
				c := rt.NewClientWith("bench-"+mode, WithoutResilience())
				inv := Invoker(stub)
				if mode == "resilient" {
					c = rt.NewClientWith("bench-" + mode)
					inv = c.resilience(stub)
				}
				ctx := context.Background()
				b.SetParallelism(par)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					req := &Request{Endpoint: ep}
					for pb.Next() {
						if _, err := inv(ctx, req); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
