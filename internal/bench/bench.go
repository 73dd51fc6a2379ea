// Package bench measures Moa's messaging paths against raw nats.go on one embedded
// nats-server: typed request-reply vs nats.Request, the resilience layer vs the plain typed
// call, the typed durable consumer vs jetstream Consume+Ack. cmd/moabench prints the tables;
// bus/bench_test.go runs the same paths as Go benchmarks.
//
// Every path handles the same 256-byte JSON body the same way (decode on receipt, encode the
// reply), so the ratios measure Moa's own overhead, not JSON against no JSON.
package bench

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
)

// Payload is the body of every benchmark message: 256 bytes of JSON.
type Payload struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	PriceCts int64    `json:"price_cts"`
	Currency string   `json:"currency"`
	Tags     []string `json:"tags"`
	Note     string   `json:"note"`
}

// PayloadSize is the JSON size of NewPayload().
const PayloadSize = 256

// NewPayload returns a payload whose JSON form is exactly PayloadSize bytes.
func NewPayload() Payload {
	p := Payload{ID: "0192f5c8-7a4e-7cc1-9d3b-4c2a1e0f9b77", Name: "Weekly vegetable box", PriceCts: 2490,
		Currency: "EUR", Tags: []string{"food", "weekly", "organic"}}
	b, _ := json.Marshal(p)
	p.Note = strings.Repeat("n", PayloadSize-len(b))
	return p
}

// Env is an embedded nats-server with JetStream in a temporary directory.
type Env struct {
	URL string
	srv *server.Server
	dir string
}

// Start boots the server.
func Start() (*Env, error) {
	dir, err := os.MkdirTemp("", "moabench-")
	if err != nil {
		return nil, err
	}
	srv, err := bus.StartEmbedded(bus.EmbeddedConfig{Port: -1, StoreDir: dir, Name: "moabench"})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return &Env{URL: srv.ClientURL(), srv: srv, dir: dir}, nil
}

// Connect opens a connection to the server.
func (e *Env) Connect(name string) (*nats.Conn, error) {
	return nats.Connect(e.URL, nats.Name(name))
}

// Close stops the server and removes its store.
func (e *Env) Close() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	_ = os.RemoveAll(e.dir)
}

// Sample is what one measured run produced.
type Sample struct {
	Ops     int
	Errors  int
	Elapsed time.Duration
	// CPU is the process's CPU time (user+system) during the run. Callers, responders and the
	// embedded server share the process, so CPU/Ops is the whole cost of one operation; on a
	// shared machine it is steadier than throughput.
	CPU time.Duration
	Lat []time.Duration // one per op, unsorted
}

// CPUPerOp is the process CPU time per operation.
func (s Sample) CPUPerOp() time.Duration {
	if s.Ops == 0 {
		return 0
	}
	return s.CPU / time.Duration(s.Ops)
}

// cpuTime is the CPU time this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Add pools another run into s.
func (s *Sample) Add(o Sample) {
	s.Ops += o.Ops
	s.Errors += o.Errors
	s.Elapsed += o.Elapsed
	s.CPU += o.CPU
	s.Lat = append(s.Lat, o.Lat...)
}

// Throughput is ops per second over the pooled runs.
func (s Sample) Throughput() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Ops) / s.Elapsed.Seconds()
}

// Percentile returns the q-quantile (0 < q <= 1) of the latencies.
func (s Sample) Percentile(q float64) time.Duration {
	if len(s.Lat) == 0 {
		return 0
	}
	l := slices.Clone(s.Lat)
	slices.Sort(l)
	i := int(float64(len(l))*q+0.999999) - 1
	return l[min(max(i, 0), len(l)-1)]
}

// Measure runs op in a loop from callers goroutines for d and records each op's latency.
func Measure(callers int, d time.Duration, op func() error) Sample {
	lats := make([][]time.Duration, callers)
	errs := make([]int, callers)
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	start := time.Now()
	stop := start.Add(d)
	for w := 0; w < callers; w++ {
		wg.Go(func() {
			l := make([]time.Duration, 0, 1<<14)
			for {
				t0 := time.Now()
				if t0.After(stop) {
					break
				}
				if err := op(); err != nil {
					errs[w]++
				}
				l = append(l, time.Since(t0))
			}
			lats[w] = l
		})
	}
	wg.Wait()
	s := Sample{Elapsed: time.Since(start), CPU: cpuTime() - cpu0}
	for w := range lats {
		s.Ops += len(lats[w])
		s.Errors += errs[w]
		s.Lat = append(s.Lat, lats[w]...)
	}
	return s
}
