package outbox

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// The crash tests run publishers and consumers as real processes: this test binary, re-executed
// with -test.run=TestHelperProcess and a role in the environment. A child reports on stdout with
// lines starting "MOA: "; at its crash point it reports "MOA: crash <point>" and blocks there
// until the parent kills it with SIGKILL.
const (
	envPG         = "MOA_CRASH_PG"
	envNATS       = "MOA_CRASH_NATS"
	envCrashAt    = "MOA_CRASH_AT"    // hook point to crash at
	envCrashAfter = "MOA_CRASH_AFTER" // at its n-th occurrence (default 1)
	envEvents     = "MOA_CRASH_EVENTS"
	envPerTx      = "MOA_CRASH_PER_TX"
	envName       = "MOA_CRASH_NAME"
	envDurable    = "MOA_CRASH_DURABLE"
	envBatch      = "MOA_CRASH_BATCH" // the consumer's Batched size (unset: no batching)
)

// crashConsumer is the durable the consumer children and the tests share.
func crashConsumerSpec(durable string) contracts.ConsumerSpec {
	return contracts.ConsumerSpec{Stream: testStream, Durable: durable, AckWait: time.Second,
		FilterSubjects: []string{evHappened.Filter()}}
}

func TestHelperProcess(t *testing.T) {
	role := os.Getenv(helperEnv)
	if role == "" {
		t.Skip("helper process of the crash tests")
	}
	if err := runHelper(role); err != nil {
		fmt.Printf("MOA: error %v\n", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func say(format string, args ...any) { fmt.Printf("MOA: "+format+"\n", args...) }

// armCrash makes the process stop dead at the configured point: it reports and blocks, the
// parent kills it. Everything in flight (the relay's transaction, unacked messages) is lost
// exactly as in a kill -9.
func armCrash() {
	at := os.Getenv(envCrashAt)
	if at == "" {
		return
	}
	after, _ := strconv.Atoi(os.Getenv(envCrashAfter))
	after = max(after, 1)
	var n atomic.Int64
	testHook = func(point string) {
		if point == at && n.Add(1) == int64(after) {
			say("crash %s", point)
			select {}
		}
	}
}

func runHelper(role string) error {
	ctx := context.Background()
	armCrash()
	pool, err := pgxpool.New(ctx, os.Getenv(envPG))
	if err != nil {
		return err
	}
	nc, err := nats.Connect(os.Getenv(envNATS), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.ReconnectJitter(0, 0))
	if err != nil {
		return err
	}
	rt, err := bus.New(nc, bus.WithLogger(quietLogger()))
	if err != nil {
		return err
	}
	switch role {
	case "publisher":
		return helperPublisher(ctx, pool, rt)
	case "consumer":
		return helperConsumer(ctx, pool, rt)
	case "ordered":
		return helperOrderedConsumer(ctx, pool, rt)
	}
	return fmt.Errorf("unknown role %q", role)
}

// helperPublisher writes its events (several per transaction) while its relay publishes them,
// then waits until the outbox is empty and exits.
func helperPublisher(ctx context.Context, pool *pgxpool.Pool, rt *bus.Runtime) error {
	events, _ := strconv.Atoi(os.Getenv(envEvents))
	perTx, _ := strconv.Atoi(os.Getenv(envPerTx))
	perTx = max(perTx, 1)
	name := os.Getenv(envName)
	relay := StartRelay(ctx, pool, rt, RelayOptions{Name: name, PollInterval: 100 * time.Millisecond})
	say("ready")
	for i := 0; i < events; i += perTx {
		err := Transact(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
			for j := i; j < min(i+perTx, events); j++ {
				if _, err := Emit(ctx, tx, name, evHappened, name+"-"+strconv.Itoa(j%8), happened{N: j}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	say("written %d", events)
	drainCtx, cancelDrain := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelDrain()
	err := moatest.Poll(drainCtx, 50*time.Millisecond, func() error {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM moa_outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			relay.Notify()
			return fmt.Errorf("%d rows unpublished", n)
		}
		return nil
	})
	if err != nil {
		return err
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := relay.Stop(stopCtx); err != nil {
		return err
	}
	say("done published=%d duplicates=%d", relay.Published(), relay.Duplicates())
	return nil
}

// helperConsumer applies events with the inbox until killed.
func helperConsumer(ctx context.Context, pool *pgxpool.Pool, rt *bus.Runtime) error {
	opts := []bus.ConsumeOption{bus.WithConsumerMiddleware(Inbox(pool, os.Getenv(envDurable))), bus.WithKey(bus.SubjectKey), bus.WithConcurrency(4)}
	if n, _ := strconv.Atoi(os.Getenv(envBatch)); n > 1 {
		opts = append(opts, Batched(pool, n))
	}
	_, err := rt.Consume(ctx, "crash", crashConsumerSpec(os.Getenv(envDurable)), bus.OnEvent(evHappened, applyEffect), opts...)
	if err != nil {
		return err
	}
	say("ready")
	select {}
}

// child is a running helper process.
type child struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string
	exited chan struct{}
	err    error // Wait's result, set before exited is closed
	mu     sync.Mutex
	log    []string
}

// spawn starts a helper process with role and env (KEY=VALUE).
func spawn(t *testing.T, role string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v=false")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+role), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, lines: make(chan string, 1000), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if msg, ok := strings.CutPrefix(sc.Text(), "MOA: "); ok {
				c.mu.Lock()
				c.log = append(c.log, msg)
				c.mu.Unlock()
				select {
				case c.lines <- msg:
				default: // nobody is waiting for lines this far back
				}
			}
		}
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(c.kill)
	return c
}

// await returns the first line from the child that starts with prefix.
func (c *child) await(prefix string, timeout time.Duration) string {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line := <-c.lines:
			if strings.HasPrefix(line, "error") {
				c.t.Fatalf("helper failed: %s", line)
			}
			if strings.HasPrefix(line, prefix) {
				return line
			}
		case <-c.exited:
			// The line may be buffered behind the exit: look there first.
			for {
				select {
				case line := <-c.lines:
					if strings.HasPrefix(line, prefix) {
						return line
					}
					continue
				default:
				}
				break
			}
			c.t.Fatalf("helper exited (%v) before %q: %v", c.err, prefix, c.history())
		case <-deadline:
			c.t.Fatalf("no %q from helper within %v: %v", prefix, timeout, c.history())
		}
	}
}

func (c *child) history() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

// kill sends SIGKILL (kill -9) and reaps the process.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// exit waits for the child to finish on its own and fails the test if it failed.
func (c *child) exit(timeout time.Duration) {
	c.t.Helper()
	select {
	case <-c.exited:
		if c.err != nil {
			c.t.Fatalf("helper: %v: %v", c.err, c.history())
		}
	case <-time.After(timeout):
		c.t.Fatalf("helper did not exit within %v: %v", timeout, c.history())
	}
}
