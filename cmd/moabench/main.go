// Command moabench measures Moa's messaging overhead against raw nats.go on an embedded
// nats-server and prints the tables (`make bench`):
//
//   - request-reply: raw nats.Conn.Request vs typed bus.Call, with and without the resilience
//     layer, at 1 and 32 concurrent callers, 256-byte JSON each way;
//   - the resilience layer's cost: the default client vs a WithoutResilience client;
//   - durable consumers: raw jetstream Consume+Ack vs typed rt.Consume.
//
// Numbers depend on the machine and on what else runs on it; the header says where they were
// taken. Flags shrink or grow the run; -cpuprofile and -memprofile write pprof profiles of it
// (`go run ./cmd/moabench -only rr -callers 32 -cpuprofile cpu.out`).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/moa-run/moa/internal/bench"
)

func main() {
	var cfg bench.Config
	var only, callers string
	var quiet bool
	var cpuProfile, memProfile string
	flag.DurationVar(&cfg.Duration, "duration", 300*time.Millisecond, "length of one request-reply measurement")
	flag.IntVar(&cfg.Rounds, "rounds", 12, "request-reply measurements per row, interleaved across rows")
	flag.IntVar(&cfg.ConsumerRounds, "consumer-rounds", 4, "drains per consumer row, interleaved across rows")
	flag.StringVar(&callers, "callers", "1,32", "concurrent callers for request-reply, comma-separated")
	flag.IntVar(&cfg.Messages, "messages", 20000, "events preloaded for the consumer benchmark")
	flag.IntVar(&cfg.Samples, "samples", 300, "single-event latency samples per consumer run")
	flag.StringVar(&only, "only", "rr,consumer", "benchmarks to run: rr, consumer")
	flag.BoolVar(&quiet, "q", false, "no progress lines")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	flag.StringVar(&memProfile, "memprofile", "", "write an allocation profile of the whole run to this file (go tool pprof -sample_index=alloc_objects)")
	flag.Parse()
	for _, s := range strings.Split(callers, ",") {
		var n int
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1 {
			fatal(fmt.Errorf("bad -callers %q", callers))
		}
		cfg.Callers = append(cfg.Callers, n)
	}
	if !quiet {
		cfg.Log = os.Stderr
	}
	if memProfile != "" {
		runtime.MemProfileRate = 4096 // every allocation site shows, at a modest cost
	}
	stop, err := startCPUProfile(cpuProfile)
	if err != nil {
		fatal(err)
	}
	err = run(os.Stdout, cfg, only)
	stop()
	if err != nil {
		fatal(err)
	}
	if memProfile != "" {
		if err := writeHeapProfile(memProfile); err != nil {
			fatal(err)
		}
	}
}

// startCPUProfile starts the CPU profile when path is set; the returned func stops it.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }, nil
}

// writeHeapProfile writes the allocation profile (alloc_objects, alloc_space) of the run.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func run(w io.Writer, cfg bench.Config, only string) error {
	env, err := bench.Start()
	if err != nil {
		return err
	}
	defer env.Close()
	fmt.Fprintf(w, "moabench: %s; embedded nats-server, file store\n", bench.Machine())
	fmt.Fprintf(w, "each row pools %d (request-reply) or %d (consumer) rounds, interleaved with the other rows\n", cfg.Rounds, cfg.ConsumerRounds)
	fmt.Fprintln(w, "of its table in alternating order, so that load changes on a shared machine hit all rows alike;")
	fmt.Fprintln(w, "CPU/op is the whole process's CPU time per operation (callers, services and server share it)")
	fmt.Fprintln(w)
	if strings.Contains(only, "rr") {
		rows, err := bench.RunReqReply(env, cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Request-reply, %d-byte JSON request and reply, %v per measurement\n", bench.PayloadSize, cfg.Duration)
		bench.PrintReqReply(w, rows)
		fmt.Fprintln(w, "\nResilience layer (retries, breaker, bulkhead, fallback check) on the healthy path")
		bench.PrintResilience(w, rows)
		fmt.Fprintln(w)
	}
	if strings.Contains(only, "consumer") {
		rows, err := bench.RunConsumers(context.Background(), env, cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Durable consumer: drain of %d preloaded events (Moa envelope around %d-byte JSON), decode + ack each;\n", cfg.Messages, bench.PayloadSize)
		fmt.Fprintf(w, "p50/p99: one event at a time, publish (PubAck) to handler, %d samples per round\n", cfg.Samples)
		bench.PrintConsumers(w, rows)
	}
	return nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "moabench:", err)
	os.Exit(1)
}
