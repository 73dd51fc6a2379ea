package bus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// The failover tests' stream: replicated on all three nodes, as a critical stream is.
var foStream = contracts.StreamSpec{
	Name: "FAILOVER", Subjects: []string{"evt.fotest.>"}, Storage: contracts.FileStorage,
	Replicas: 3, MaxAge: time.Hour, Duplicates: 10 * time.Minute, Critical: true,
}

type foData struct {
	N int `json:"n"`
}

var foEvent = contracts.Event[foData]{Stream: foStream, Domain: "fotest", Name: "step", Version: 1}

const (
	// foMaxStall is the target: no event waits longer than this between its first
	// publish attempt and its effect, whatever the faults.
	foMaxStall = 10 * time.Second
	// foSettle is how long after the faults stop every acknowledged event must have had its effect.
	foSettle = 60 * time.Second
)

func foLogger() *slog.Logger {
	if os.Getenv("MOA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// foRuntime is a service instance: its own bus.Connect connection to urls, as `moa serve` has.
func foRuntime(t *testing.T, name, urls string) *bus.Runtime {
	t.Helper()
	nc, err := bus.Connect(bus.ConnectConfig{URLs: urls, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := bus.New(nc, bus.WithLogger(foLogger().With("instance", name)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Close(ctx, true)
	})
	return rt
}

// foFlow is real event flow through the bus: publishers that emit with bus.Runtime.Publish and
// retry an unacknowledged event (same envelope, so the stream's duplicate window absorbs a
// retry of one it did store) until the stream acks it, and durable keyed consumers on several
// instances whose handler applies an event's effect once per event id (the inbox), however
// many times it is delivered.
type foFlow struct {
	t *testing.T

	mu        sync.Mutex
	firstTry  map[string]time.Time // every event a publisher tried, by id
	acked     map[string]time.Time
	applied   map[string]time.Time // effect applied, by id
	effects   map[string]int       // effects applied per id: the inbox keeps it at 1
	delivered int                  // handler runs, redeliveries included
	refused   int                  // publish attempts that failed (and were retried)

	stop chan struct{}
	wg   sync.WaitGroup
}

func newFoFlow(t *testing.T) *foFlow {
	return &foFlow{
		t: t, firstTry: map[string]time.Time{}, acked: map[string]time.Time{},
		applied: map[string]time.Time{}, effects: map[string]int{}, stop: make(chan struct{}),
	}
}

// consume starts the durable on rt: another instance of the same consumer.
func (f *foFlow) consume(ctx context.Context, rt *bus.Runtime) {
	f.t.Helper()
	spec := contracts.ConsumerSpec{Stream: foStream, Durable: "failover"}
	_, err := rt.Consume(ctx, "fotest", spec, func(ctx context.Context, m *bus.Msg) ([]byte, error) {
		id, err := bus.EventID(m)
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.delivered++
		if _, dup := f.applied[id]; !dup {
			f.applied[id] = time.Now()
			f.effects[id]++
		}
		return nil, nil
	}, bus.WithKey(bus.SubjectKey), bus.WithConcurrency(4))
	if err != nil {
		f.t.Fatal(err)
	}
}

// publish starts n publishers on rt, each emitting an event every few milliseconds on its
// own keys until stopPublishing.
func (f *foFlow) publish(rt *bus.Runtime, name string, n int) {
	for p := range n {
		f.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-f.stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				key := fmt.Sprintf("%s%d-%d", name, p, i%8)
				env, subject, err := bus.NewEnvelope(context.Background(), nil, "fotest", foEvent, key, foData{N: i})
				if err != nil {
					f.t.Error(err)
					return
				}
				f.mu.Lock()
				f.firstTry[env.ID] = time.Now()
				f.mu.Unlock()
				for {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					_, err := rt.Publish(ctx, subject, env)
					cancel()
					if err == nil {
						f.mu.Lock()
						f.acked[env.ID] = time.Now()
						f.mu.Unlock()
						break
					}
					f.mu.Lock()
					f.refused++
					f.mu.Unlock()
					select {
					case <-f.stop:
						return // never acked: not counted
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
		})
	}
}

func (f *foFlow) stopPublishing() {
	close(f.stop)
	f.wg.Wait()
}

// progressSince returns nil once an event first tried after at has had its effect.
func (f *foFlow) progressSince(at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, tried := range f.firstTry {
		if tried.After(at) {
			if _, ok := f.applied[id]; ok {
				return nil
			}
		}
	}
	return errors.New("no event tried since then has had its effect")
}

// missing returns the acknowledged events whose effect is not applied yet.
func (f *foFlow) missing() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.acked {
		if _, ok := f.applied[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// stalls returns the longest wait of an event from its first publish attempt to its effect,
// and of the publisher for its ack, over the acknowledged events.
func (f *foFlow) stalls() (endToEnd, publish time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, ack := range f.acked {
		tried := f.firstTry[id]
		publish = max(publish, ack.Sub(tried))
		if at, ok := f.applied[id]; ok {
			endToEnd = max(endToEnd, at.Sub(tried))
		}
	}
	return endToEnd, publish
}

// check asserts the invariants once every acknowledged event should have had its effect.
func (f *foFlow) check(t *testing.T) {
	t.Helper()
	if miss := f.missing(); len(miss) > 0 {
		t.Errorf("%d acknowledged events never had their effect (lost), e.g. %s", len(miss), miss[0])
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, n := range f.effects {
		if n != 1 {
			t.Errorf("event %s had its effect %d times", id, n)
		}
	}
	if len(f.acked) == 0 {
		t.Error("no event was acknowledged")
	}
}

// foLeader is the node index whose server leads stream (and consumer, when durable is set).
func foLeader(t *testing.T, js jetstream.JetStream, durable string) int {
	t.Helper()
	var leader string
	moatest.WaitFor(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var ci *jetstream.ClusterInfo
		if durable == "" {
			s, err := js.Stream(ctx, foStream.Name)
			if err != nil {
				return err
			}
			info, err := s.Info(ctx)
			if err != nil {
				return err
			}
			ci = info.Cluster
		} else {
			c, err := js.Consumer(ctx, foStream.Name, durable)
			if err != nil {
				return err
			}
			info, err := c.Info(ctx)
			if err != nil {
				return err
			}
			ci = info.Cluster
		}
		if ci == nil || ci.Leader == "" {
			return errors.New("no leader")
		}
		leader = ci.Leader
		return nil
	})
	var i int
	if _, err := fmt.Sscanf(strings.TrimPrefix(leader, "moatest-"), "%d", &i); err != nil {
		t.Fatalf("leader %q is not a moatest node", leader)
	}
	return i
}

// A 3-node cluster under event flow: the stream leader's node is killed (and comes back), then
// the consumer leader's node freezes (no FIN, no RST: silence, as SIGSTOP or a partition
// gives) and thaws. No acknowledged event may be lost or applied twice, none may wait more
// than foMaxStall from its first publish attempt to its effect, and all are applied within
// foSettle of the faults stopping. The longest stall is printed, for the record.
func TestFailoverKillAndFreeze(t *testing.T) {
	cl := moatest.NATSClusterProxied(t, 3)
	admin := foRuntime(t, "admin", cl.URLs())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := admin.EnsureStreams(ctx, foStream, contracts.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}
	js := admin.JetStream()

	flow := newFoFlow(t)
	for i := range 2 {
		flow.consume(ctx, foRuntime(t, fmt.Sprintf("consumer%d", i), cl.ClientURLs()))
	}
	for i := range 2 {
		flow.publish(foRuntime(t, fmt.Sprintf("publisher%d", i), cl.ClientURLs()), fmt.Sprintf("p%d", i), 2)
	}
	moatest.WaitFor(t, 30*time.Second, func() error { return flow.progressSince(time.Now().Add(-time.Second)) })

	// Kill the stream leader's node; it comes back once the flow has gone on without it.
	killed := foLeader(t, js, "")
	cl.Node(killed).Shutdown()
	killedAt := time.Now()
	moatest.WaitFor(t, foMaxStall+5*time.Second, func() error { return flow.progressSince(killedAt) })
	t.Logf("killed node %d (stream leader): flow resumed after %s", killed, time.Since(killedAt).Round(100*time.Millisecond))
	cl.Restart(t, killed)

	// Freeze the consumer leader's node for longer than clients and peers take to give it up.
	frozen := foLeader(t, js, "failover")
	cl.Freeze(frozen)
	frozenAt := time.Now()
	moatest.WaitFor(t, foMaxStall+5*time.Second, func() error { return flow.progressSince(frozenAt) })
	t.Logf("froze node %d (consumer leader): flow resumed after %s", frozen, time.Since(frozenAt).Round(100*time.Millisecond))
	<-time.After(time.Until(frozenAt.Add(8 * time.Second))) // the fault's duration, not a wait for a condition
	cl.Heal()
	healedAt := time.Now()
	moatest.WaitFor(t, foMaxStall+5*time.Second, func() error { return flow.progressSince(healedAt) })
	flow.stopPublishing()

	// Every acknowledged event has its effect within foSettle of the faults stopping.
	err := moatest.Poll(ctxFor(t, foSettle), 50*time.Millisecond, func() error {
		if miss := flow.missing(); len(miss) > 0 {
			return fmt.Errorf("%d acknowledged events without their effect", len(miss))
		}
		return nil
	})
	settled := time.Since(healedAt)
	endToEnd, publish := flow.stalls()
	flow.mu.Lock()
	t.Logf("events acknowledged: %d, publish attempts refused: %d, deliveries: %d", len(flow.acked), flow.refused, flow.delivered)
	flow.mu.Unlock()
	t.Logf("longest stall: %.1f s (publish: %.1f s); all terminal %.1f s after the faults stopped",
		endToEnd.Seconds(), publish.Seconds(), settled.Seconds())
	if err != nil {
		t.Errorf("not all acknowledged events had their effect within %s of the faults stopping: %v", foSettle, err)
	}
	flow.check(t)
	if endToEnd > foMaxStall {
		t.Errorf("longest stall %s; want at most %s", endToEnd.Round(100*time.Millisecond), foMaxStall)
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
