package outbox

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// The three paths the benchmark compares. Every path has the same producers (benchProducers
// goroutines, one event per publish or transaction) and the same consumer (keyed mailboxes over
// benchKeys keys, benchWorkers workers); what differs is in the middle.
const (
	pathDirect      = "direct->consumer"
	pathDirectInbox = "direct->consumer+inbox"
	pathOutbox      = "outbox->relay->consumer+inbox"
	// The same two inbox paths with the consumer's batched inbox (Batched, benchBatch()).
	pathDirectInboxBatch = "direct->consumer+inbox/batch"
	pathOutboxBatch      = "outbox->relay->consumer+inbox/batch"

	benchProducers = 16
	benchWorkers   = 64
	benchKeys      = 64
)

type benchResult struct {
	n        int
	commits  int64         // inbox transactions committed
	produced time.Duration // until the last publish or commit returned
	elapsed  time.Duration
	p50, p99 time.Duration
}

func (r benchResult) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

// BenchmarkOutboxVsDirect measures events/s (first publish to last handled) and the p50/p99 of
// each event's latency (from just before it is published, or before its transaction begins, to
// its handler), for the three paths in one run, and prints them side by side. Use a fixed event
// count: go test -run '^$' -bench OutboxVsDirect -benchtime 10000x ./bus/outbox/
func BenchmarkOutboxVsDirect(b *testing.B) { benchPaths(b, benchProducers) }

// BenchmarkOutboxLatency is the same with one producer that publishes the next event only once
// the previous one was handled (ping-pong): no backlog, so the latencies are those of the path
// itself, the outbox relay's wake-up on commit included.
func BenchmarkOutboxLatency(b *testing.B) { benchPaths(b, 0) }

// benchPaths runs the three paths; producers 0 means one ping-pong producer.
func benchPaths(b *testing.B, producers int) {
	pool := newPool(b, moatest.Postgres(b))
	createEffects(b, pool)
	rt := newRuntime(b, moatest.NATS(b).Conn(b))
	results := map[string]benchResult{}
	for _, path := range benchPathList {
		b.Run(path, func(b *testing.B) {
			r := runPath(b, path, pool, rt, b.N, producers)
			results[path] = r
			b.ReportMetric(r.rate(), "events/s")
			b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
			if path != pathDirect {
				b.ReportMetric(float64(r.commits)/float64(r.n), "inbox-commits/event")
			}
		})
	}
	direct, ok := results[pathDirect]
	if !ok {
		return
	}
	directInbox := results[pathDirectInbox]
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-38s %7s %10s %12s %10s %10s %10s %16s %14s\n", "path", "events", "events/s", "produced/s", "p50", "p99", "vs direct", "vs direct+inbox", "commits/event")
	for _, path := range benchPathList {
		r, ok := results[path]
		if !ok {
			continue
		}
		vsInbox := "-"
		if directInbox.n > 0 && path != pathDirect {
			vsInbox = fmt.Sprintf("%.2fx", r.rate()/directInbox.rate())
		}
		commits := "-"
		if path != pathDirect {
			commits = fmt.Sprintf("%.3f", float64(r.commits)/float64(r.n))
		}
		fmt.Fprintf(&sb, "%-38s %7d %10.0f %12.0f %10v %10v %9.2fx %16s %14s\n", path, r.n, r.rate(), float64(r.n)/r.produced.Seconds(),
			r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.rate()/direct.rate(), vsInbox, commits)
	}
	if producers == 0 {
		fmt.Fprintf(&sb, "(1 ping-pong producer: each event published once the previous one was handled)\n")
	} else {
		fmt.Fprintf(&sb, "(%d producers, %d consumer workers over %d keys; GOMAXPROCS=%s)\n", producers, benchWorkers, benchKeys, gomaxprocs())
	}
	fmt.Fprintf(&sb, "(/batch: Batched inbox, up to %d messages per transaction (MOA_BENCH_BATCH); commits/event: inbox transactions committed per event)\n", benchBatch())
	fmt.Fprint(os.Stdout, sb.String())
}

// benchPathList is the order of the rows.
var benchPathList = []string{pathDirect, pathDirectInbox, pathDirectInboxBatch, pathOutbox, pathOutboxBatch}

// benchBatch is the batch size of the /batch paths: MOA_BENCH_BATCH, default 16.
func benchBatch() int {
	if n, err := strconv.Atoi(os.Getenv("MOA_BENCH_BATCH")); err == nil && n > 0 {
		return n
	}
	return 16
}

func gomaxprocs() string {
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		return v
	}
	return "default"
}

var benchRun atomic.Int64

func runPath(b *testing.B, path string, pool *pgxpool.Pool, rt *bus.Runtime, n, producers int) benchResult {
	b.Helper()
	ctx := context.Background()
	resetBench(b, pool, rt)
	latencies := make([]time.Duration, n)
	var handled atomic.Int64
	done := make(chan struct{})
	pong := make(chan struct{}, 1)
	pingPong := producers == 0
	producers = max(producers, 1)
	h := bus.OnEvent(evHappened, func(ctx context.Context, e bus.Event[happened]) error {
		if path != pathDirect {
			if err := applyEffect(ctx, e); err != nil {
				return err
			}
		}
		latencies[e.Data.N] = time.Since(e.Data.At)
		if handled.Add(1) == int64(n) {
			close(done)
		}
		if pingPong {
			pong <- struct{}{}
		}
		return nil
	})
	durable := "bench" + strconv.FormatInt(benchRun.Add(1), 10)
	opts := []bus.ConsumeOption{bus.WithKey(bus.SubjectKey), bus.WithConcurrency(benchWorkers)}
	if path != pathDirect {
		opts = append(opts, bus.WithConsumerMiddleware(Inbox(pool, durable)))
	}
	if path == pathDirectInboxBatch || path == pathOutboxBatch {
		opts = append(opts, Batched(pool, benchBatch()))
	}
	commits0 := inboxCommits.Load()
	c, err := rt.Consume(ctx, "bench", contracts.ConsumerSpec{Stream: testStream, Durable: durable}, h, opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Stop()
	var relay *Relay
	if path == pathOutbox || path == pathOutboxBatch {
		relay = StartRelay(ctx, pool, rt, RelayOptions{Name: durable})
		defer relay.Stop(ctx) //nolint:errcheck
	}

	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := produce(ctx, path, pool, rt, i); err != nil {
					errs <- err
					return
				}
				if pingPong {
					<-pong
				}
			}
		}()
	}
	wg.Wait()
	produced := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%s: %d of %d handled", path, handled.Load(), n)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	return benchResult{n: n, commits: inboxCommits.Load() - commits0, produced: produced, elapsed: elapsed, p50: latencies[n/2], p99: latencies[min(n-1, n*99/100)]}
}

func produce(ctx context.Context, path string, pool *pgxpool.Pool, rt *bus.Runtime, i int) error {
	key := "k" + strconv.Itoa(i%benchKeys)
	data := happened{N: i, At: time.Now()}
	if path != pathOutbox && path != pathOutboxBatch {
		_, err := bus.Emit(ctx, rt, "bench", evHappened, key, data)
		return err
	}
	return Transact(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		_, err := Emit(ctx, tx, "bench", evHappened, key, data)
		return err
	})
}

// resetBench empties the stream and the tables, so every run starts from nothing.
func resetBench(b *testing.B, pool *pgxpool.Pool, rt *bus.Runtime) {
	b.Helper()
	ctx := ctxT(b, time.Minute)
	st, err := rt.JetStream().Stream(ctx, testStream.Name)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Purge(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `TRUNCATE effects, moa_inbox, moa_outbox, moa_outbox_key_versions, moa_inbox_key_versions`); err != nil {
		b.Fatal(err)
	}
}
