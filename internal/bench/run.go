package bench

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/moa-run/moa/bus"
)

// Config sets the size of a benchmark run.
type Config struct {
	Duration time.Duration // per request-reply measurement
	Rounds   int           // request-reply measurements per row, interleaved across rows
	// ConsumerRounds is the number of drains per consumer row, interleaved across rows.
	ConsumerRounds int
	Callers        []int     // concurrent callers for request-reply
	Messages       int       // events preloaded for the consumer benchmark
	Samples        int       // single-event latency samples per consumer run
	Log            io.Writer // progress lines; nil for none
}

// Row is one line of a result table.
type Row struct {
	Path    string
	Callers int
	Sample
}

func (c Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// RunReqReply measures the three request-reply paths. Rows are interleaved per round (raw,
// plain, resilient, for each caller count), so that a load change on a shared machine hits
// every path alike; each row pools its rounds.
func RunReqReply(env *Env, cfg Config) ([]Row, error) {
	rr, err := NewReqReply(env)
	if err != nil {
		return nil, err
	}
	defer rr.Close()
	paths := []struct {
		name string
		op   func() error
	}{
		{"raw nats.go Request", rr.Raw},
		{"raw, goroutine per request (reference)", rr.RawConcurrent},
		{"typed bus.Call, WithoutResilience", rr.Plain},
		{"typed bus.Call, default client", rr.Resilient},
	}
	for _, p := range paths { // warm connections, reply subscriptions, metric series
		Measure(1, 200*time.Millisecond, p.op)
	}
	pooled := make([]Row, 0, len(paths)*len(cfg.Callers))
	for _, callers := range cfg.Callers {
		for _, p := range paths {
			pooled = append(pooled, Row{Path: p.name, Callers: callers})
		}
	}
	for round := 1; round <= cfg.Rounds; round++ {
		for ci, callers := range cfg.Callers {
			for k := range paths {
				pi := order(round, k, len(paths))
				p := paths[pi]
				s := Measure(callers, cfg.Duration, p.op)
				if s.Errors > 0 {
					return nil, fmt.Errorf("%s, %d callers: %d of %d calls failed", p.name, callers, s.Errors, s.Ops)
				}
				cfg.logf("round %d/%d  %-36s callers=%-3d %9.0f ops/s  %v CPU/op", round, cfg.Rounds, p.name, callers, s.Throughput(), s.CPUPerOp())
				pooled[ci*len(paths)+pi].Add(s)
			}
		}
	}
	return pooled, nil
}

// RunConsumers measures the raw and typed durable consumers, interleaved per round.
func RunConsumers(ctx context.Context, env *Env, cfg Config) ([]Row, error) {
	c, err := NewConsumers(ctx, env, cfg.Messages)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	paths := []struct {
		name string
		run  func(ctx context.Context, durable string) (Sample, error)
	}{
		{"raw jetstream Consume+Ack", func(ctx context.Context, d string) (Sample, error) { return c.Raw(ctx, d, cfg.Samples) }},
		{"typed rt.Consume, sequential", func(ctx context.Context, d string) (Sample, error) { return c.Typed(ctx, d, cfg.Samples) }},
		{fmt.Sprintf("typed rt.Consume, %d keys, 32 workers", keys), func(ctx context.Context, d string) (Sample, error) {
			return c.Typed(ctx, d, cfg.Samples, bus.WithKey(bus.SubjectKey), bus.WithConcurrency(32))
		}},
	}
	rows := make([]Row, len(paths))
	for i, p := range paths {
		rows[i].Path = p.name
	}
	for round := 1; round <= cfg.ConsumerRounds; round++ {
		for k := range paths {
			i := order(round, k, len(paths))
			p := paths[i]
			rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			s, err := p.run(rctx, fmt.Sprintf("bench_%d_%d", round, i))
			cancel()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.name, err)
			}
			cfg.logf("round %d/%d  %-36s %9.0f msgs/s (%d msgs)", round, cfg.ConsumerRounds, p.name, s.Throughput(), s.Ops)
			rows[i].Add(s)
		}
	}
	return rows, nil
}

// Machine describes where the numbers were taken.
func Machine() string {
	return fmt.Sprintf("%s/%s, %d CPUs (GOMAXPROCS %d), %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
}

// order is the k-th path to run in a round: forward in odd rounds, backward in even ones, so
// that no path always runs first (on a cold cache) or right after the same neighbour.
func order(round, k, n int) int {
	if round%2 == 0 {
		return n - 1 - k
	}
	return k
}
