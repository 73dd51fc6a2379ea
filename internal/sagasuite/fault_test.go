package sagasuite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/internal/pglocal"
	"github.com/moa-run/moa/moatest"
)

// The fault suite's parameters (the numbers).
const (
	faultSagas       = 300
	faultRate        = 10 // sagas started per second
	faultDeclineRate = "0.1"
	faultLateRate    = "0.05" // provider calls that time out unrecorded and land faultLateDelay later
	faultLateDelay   = "2s"
	faultPoison      = 3
	faultAckWait     = 4 * time.Second
	faultConverge    = 60 * time.Second // after the faults stop
	cancelEvery      = 10               // every tenth saga is cancelled by its consumer once active
)

// TestSagaSurvivesFaults runs 300 sagas at 10 per second through catalog, subscription and
// notify in one process and billing in two, with the simulated provider declining 10% and
// landing 5% of its calls 2 s after they timed out unrecorded, and 1% poison messages, while
// billing is killed and restarted, nats-server is restarted, PostgreSQL is
// restarted, a billing replica is paused past its ack wait (the other takes over), and
// duplicate and late events are injected. Within 60 s after the faults stop every invariant
// of the saga must hold; the test prints every count.
func TestSagaSurvivesFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite takes a minute or two")
	}
	n := moatest.NATS(t)
	pg := moatest.PostgresServer(t)
	ctx := ctxT(t, 10*time.Minute)
	urls := map[string]string{}
	pools := map[string]*pgxpool.Pool{}
	for _, name := range append(services, "notify") {
		if err := pglocal.CreateDatabase(ctx, pg.URL("postgres"), "saga_"+name); err != nil {
			t.Fatal(err)
		}
		urls[name] = pg.URL("saga_" + name)
		pool, err := pgxpool.New(ctx, urls[name])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		pools[name] = pool
	}
	rt := moatest.Runtime(t, n) // the test's own: it drives and watches the service processes
	iss := authntest.NewIssuer(t, rt)
	cl := client.New(rt.Client())
	subs := client.NewSubscriptionClient(rt.Client())
	ack := faultAckWait.String()
	set := settings{
		"catalog":      {"SAGA_ACK_WAIT": ack},
		"subscription": {"SAGA_ACK_WAIT": ack, "SWEEP_INTERVAL": "1s", "STUCK_AFTER": "15s", "TIMEOUT_AFTER": "5m"},
		"billing": {"SAGA_ACK_WAIT": ack, "SIM_DECLINE_RATE": faultDeclineRate, "SIM_SEED": "42", "SIM_LATENCY": "5ms",
			"SIM_LATE_RATE": faultLateRate, "SIM_LATE_DELAY": faultLateDelay, "CONSUMER_CONCURRENCY": "4"},
	}
	var procs []*proc
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range procs {
				t.Logf("--- log of %s (pid %d) ---\n%s", p.name, p.cmd.Process.Pid, p.tail(30))
			}
		}
	})
	start := func(name, role string) *proc {
		p := spawn(t, name, role, n.URL(), urls, set)
		procs = append(procs, p)
		return p
	}
	start("core", "catalog,subscription,notify")
	billing1 := start("billing-1", "billing")
	billing2 := start("billing-2", "billing")

	seller := authntest.Seller()
	var products []contracts.Product
	for i := range 10 {
		p, err := cl.Catalog.CreateProduct(iss.Context(ctx, seller), contracts.CreateProductRequest{
			Title: fmt.Sprintf("Plan %d", i), PriceAmount: int64(1000 + 100*i), Currency: "KRW",
			BillingPeriod: contracts.BillingMonthly, Terms: "Cancel any time.", Capacity: 25,
		})
		if err != nil {
			t.Fatal(err)
		}
		products = append(products, p)
	}

	// The load: one saga every 100 ms, each by a new consumer, retried through the faults with
	// its idempotency key; every tenth is cancelled once active.
	runs := make([]*sagaRun, faultSagas)
	for i := range runs {
		runs[i] = &sagaRun{i: i, who: authntest.Consumer(), product: products[i%len(products)].ID, cancel: i%cancelEvery == 3}
	}
	var wg sync.WaitGroup
	wg.Add(len(runs))
	t0 := time.Now()
	go func() {
		tick := time.NewTicker(time.Second / faultRate)
		defer tick.Stop()
		for _, r := range runs {
			<-tick.C
			go func() { defer wg.Done(); r.run(iss, subs) }()
		}
	}()

	inj := &injector{js: rt.JetStream(), poison: map[string]bool{}}
	stopDup := inj.duplicates(300 * time.Millisecond)
	var faults []string
	at := func(d time.Duration, what string, fn func()) {
		time.Sleep(time.Until(t0.Add(d)))
		fn()
		faults = append(faults, fmt.Sprintf("t=%4.1fs %s", time.Since(t0).Seconds(), what))
		t.Logf("fault at t=%.1fs: %s", time.Since(t0).Seconds(), what)
	}
	at(4*time.Second, "poison #1 (not JSON)", func() { inj.poisonMsg(t, 0) })
	at(6*time.Second, "kill -9 billing-1", billing1.kill)
	at(9*time.Second, "restart billing-1", func() { start("billing-1b", "billing") })
	at(12*time.Second, "restart nats-server", func() { n.Restart(t) })
	at(14*time.Second, "poison #2 (bad data)", func() { inj.poisonMsg(t, 1) })
	at(17*time.Second, "restart PostgreSQL", func() {
		if err := pg.Restart(ctx); err != nil {
			t.Fatal(err)
		}
	})
	at(21*time.Second, fmt.Sprintf("SIGSTOP billing-2 for %s (ack wait %s): billing-1b takes over", 2*faultAckWait+2*time.Second, faultAckWait), billing2.pause)
	at(24*time.Second, "poison #3 (unknown schema version)", func() { inj.poisonMsg(t, 2) })
	at(21*time.Second+2*faultAckWait+2*time.Second, "SIGCONT billing-2", billing2.resume)
	at(32*time.Second, "late events: the streams' first messages re-published", func() { inj.late(40) })
	stopDup()
	faultsEnd := time.Now()

	// Within faultConverge of the faults stopping, everything is terminal and quiet.
	var last error
	for {
		if last = converged(ctx, runs, pools, rt.JetStream()); last == nil {
			break
		}
		if time.Since(faultsEnd) > faultConverge {
			t.Errorf("not converged %s after the faults stopped: %v", faultConverge, last)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	convergedIn := time.Since(faultsEnd)
	wg.Wait()
	c := count(t, ctx, runs, pools, rt.JetStream(), inj)
	c.report(t, faults, faultsEnd, convergedIn)
	c.check(t)
}

// sagaRun is one saga of the load.
type sagaRun struct {
	i       int
	who     contracts.Principal
	product string
	cancel  bool
	id      atomic.Value // string
	err     error
	tries   int
	done    atomic.Bool
}

func (r *sagaRun) subID() string {
	s, _ := r.id.Load().(string)
	return s
}

// run subscribes (retrying with the same idempotency key until it succeeds) and, for a saga
// to cancel, waits until it is active and cancels it.
func (r *sagaRun) run(iss *authntest.Issuer, subs *client.SubscriptionClient) {
	defer r.done.Store(true)
	deadline := time.Now().Add(3 * time.Minute)
	key := "load-" + uuid.NewString()
	call := func(fn func(ctx context.Context) error) error {
		wait := 100 * time.Millisecond
		for {
			ctx, cancel := context.WithTimeout(iss.Context(context.Background(), r.who), 5*time.Second)
			err := fn(ctx)
			cancel()
			r.tries++
			if err == nil || time.Now().After(deadline) {
				return err
			}
			var ce *contracts.Error
			if errors.As(err, &ce) && ce.Kind == contracts.KindInvalid {
				return err
			}
			time.Sleep(wait)
			wait = min(2*wait, 2*time.Second)
		}
	}
	r.err = call(func(ctx context.Context) error {
		s, err := subs.Subscribe(ctx, r.product, key)
		if err == nil {
			r.id.Store(s.ID)
		}
		return err
	})
	if r.err != nil || !r.cancel {
		return
	}
	for time.Now().Before(deadline) {
		var s contracts.Subscription
		err := call(func(ctx context.Context) error {
			var err error
			s, err = subs.Get(ctx, r.subID())
			return err
		})
		if err != nil {
			r.err = err
			return
		}
		switch s.State {
		case contracts.SubActive:
			r.err = call(func(ctx context.Context) error { _, err := subs.Cancel(ctx, r.subID()); return err })
			return
		case contracts.SubCancelled:
			return
		}
		time.Sleep(time.Second)
	}
}

// converged reports an error until every saga is recorded and terminal, every cancel asked
// for is done, the outboxes are drained and the consumers idle.
func converged(ctx context.Context, runs []*sagaRun, pools map[string]*pgxpool.Pool, js jetstream.JetStream) error {
	ids := make([]string, 0, len(runs))
	for _, r := range runs {
		if !r.done.Load() {
			return errors.New("the load is still running")
		}
		if r.err != nil {
			return fmt.Errorf("saga %d: %w", r.i, r.err)
		}
		ids = append(ids, r.subID())
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var inProgress int
	if err := pools["subscription"].QueryRow(qctx, `SELECT count(*) FROM subscriptions WHERE id::text = ANY($1) AND state IN ('PENDING', 'CANCELLING')`, ids).Scan(&inProgress); err != nil {
		return err
	}
	if inProgress > 0 {
		return fmt.Errorf("%d sagas in progress", inProgress)
	}
	return settled(qctx, js, pools)
}
