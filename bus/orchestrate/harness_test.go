package orchestrate_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/orchestrate"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// The participants: a test service whose endpoints deduplicate on the idempotency key, the way
// a real participant must, and record every delivery so tests can tell a repeated call from a
// repeated effect.
var partSvc = contracts.Service{Name: "sagatest", Version: "1.0.0", Major: 1, Description: "saga participants"}

type cmdReq struct {
	Key   string `json:"key"`
	Order string `json:"order,omitempty"`
	Ref   string `json:"ref,omitempty"` // what a compensation undoes
}

type cmdResp struct {
	Ref string `json:"ref"`
}

func endpoint(name string) contracts.Endpoint[cmdReq, cmdResp] {
	return contracts.Endpoint[cmdReq, cmdResp]{Service: partSvc, Name: name, Timeout: 5 * time.Second, Access: contracts.AccessInternal}
}

var (
	epReserve   = endpoint("reserve")
	epUnreserve = endpoint("unreserve")
	epCharge    = endpoint("charge")
	epRefund    = endpoint("refund")
	epSwitch    = endpoint("switch")
	epUnswitch  = endpoint("unswitch")
)

type call struct{ endpoint, key, ref string }

// ledger is the participants' shared memory.
type ledger struct {
	mu         sync.Mutex
	calls      []call
	deliveries map[string]int    // key -> calls received
	done       map[string]string // key -> the ref of its one effect
	effects    map[string]int    // key -> effects applied (must stay 1)
	fail       map[string]error  // endpoint -> the error it always answers
	hang       map[string]bool   // endpoint -> apply the first delivery, then never answer it
	stop       chan struct{}     // closed when the test ends, to let hung calls go
	// gate holds an endpoint's calls until gateAt of them are in flight together.
	gate   map[string]chan struct{}
	gateAt map[string]int
	calls1 map[string]int // endpoint -> calls received
}

// hold makes endpoint's calls wait until n of them have arrived.
func (l *ledger) hold(endpoint string, n int) {
	l.set(func(l *ledger) { l.gate[endpoint], l.gateAt[endpoint] = make(chan struct{}), n })
}

func newLedger() *ledger {
	return &ledger{deliveries: map[string]int{}, done: map[string]string{}, effects: map[string]int{},
		fail: map[string]error{}, hang: map[string]bool{}, stop: make(chan struct{}),
		gate: map[string]chan struct{}{}, gateAt: map[string]int{}, calls1: map[string]int{}}
}

func (l *ledger) handler(name string) func(ctx context.Context, r cmdReq) (cmdResp, error) {
	return func(ctx context.Context, r cmdReq) (cmdResp, error) {
		l.mu.Lock()
		l.calls = append(l.calls, call{name, r.Key, r.Ref})
		l.deliveries[r.Key]++
		if err := l.fail[name]; err != nil {
			l.mu.Unlock()
			return cmdResp{}, err
		}
		l.calls1[name]++
		if g := l.gate[name]; g != nil {
			if l.calls1[name] == l.gateAt[name] {
				close(g)
			}
			l.mu.Unlock()
			select {
			case <-g:
			case <-ctx.Done():
				return cmdResp{}, contracts.ErrTimeout.Msg("gate")
			case <-l.stop:
				return cmdResp{}, contracts.ErrTimeout.Msg("gate")
			}
			l.mu.Lock()
		}
		ref, seen := l.done[r.Key]
		if !seen { // dedupe: a key's effect happens once, a repeat returns its first outcome
			ref = name + "-" + strconv.Itoa(len(l.done)+1)
			l.done[r.Key] = ref
			l.effects[r.Key]++
		}
		hang := l.hang[name] && l.deliveries[r.Key] == 1
		l.mu.Unlock()
		if hang { // the effect is applied but its reply is lost
			select {
			case <-ctx.Done():
			case <-l.stop:
			}
			return cmdResp{}, contracts.ErrTimeout.Msg("hung")
		}
		return cmdResp{Ref: ref}, nil
	}
}

func (l *ledger) set(f func(l *ledger)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l)
}

func (l *ledger) deliveriesOf(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deliveries[key]
}

func (l *ledger) effectsOf(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.effects[key]
}

// sequence is the endpoints called for saga id, in order.
func (l *ledger) sequence(saga, id string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	prefix := saga + ":" + id + ":"
	for _, c := range l.calls {
		if len(c.key) > len(prefix) && c.key[:len(prefix)] == prefix {
			out = append(out, c.endpoint)
		}
	}
	return out
}

func (l *ledger) callsTo(endpoint string) []call {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []call
	for _, c := range l.calls {
		if c.endpoint == endpoint {
			out = append(out, c)
		}
	}
	return out
}

// plan is the test saga's state: what the compensations need is recorded by the steps.
type plan struct {
	Order  string `json:"order"`
	Seat   string `json:"seat,omitempty"`
	Charge string `json:"charge,omitempty"`
	Switch string `json:"switch,omitempty"`
}

func cmd(ep contracts.Endpoint[cmdReq, cmdResp], record func(*plan, string)) orchestrate.Action[plan] {
	return orchestrate.Call(ep, func(s *plan, key string) cmdReq { return cmdReq{Key: key, Order: s.Order} },
		func(s *plan, r cmdResp) { record(s, r.Ref) })
}

func undo(ep contracts.Endpoint[cmdReq, cmdResp], ref func(*plan) string) orchestrate.Action[plan] {
	return orchestrate.Call(ep, func(s *plan, key string) cmdReq { return cmdReq{Key: key, Order: s.Order, Ref: ref(s)} }, nil)
}

// planSaga is a plan change in miniature: reserve a seat, charge, switch.
func planSaga(timeout time.Duration) orchestrate.Saga[plan] {
	return orchestrate.Saga[plan]{Name: "plan_test", Steps: []orchestrate.Step[plan]{
		{Name: "reserve", Timeout: timeout,
			Do:         cmd(epReserve, func(s *plan, r string) { s.Seat = r }),
			Compensate: undo(epUnreserve, func(s *plan) string { return s.Seat })},
		{Name: "charge", Timeout: timeout,
			Do:         cmd(epCharge, func(s *plan, r string) { s.Charge = r }),
			Compensate: undo(epRefund, func(s *plan) string { return s.Charge })},
		{Name: "switch", Timeout: timeout,
			Do:         cmd(epSwitch, func(s *plan, r string) { s.Switch = r }),
			Compensate: undo(epUnswitch, func(s *plan) string { return s.Switch })},
	}}
}

type env struct {
	pool *pgxpool.Pool
	rt   *bus.Runtime
	led  *ledger
}

func quietLogger() *slog.Logger {
	if os.Getenv("MOA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// setup boots the suite's nats-server and a fresh PostgreSQL database, migrates it, and
// starts the participants.
func setup(t *testing.T) *env {
	t.Helper()
	srv := moatest.NATS(t)
	pool, err := pgxpool.New(ctxT(t, time.Minute), moatest.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := orchestrate.Migrate(ctxT(t, time.Minute), pool); err != nil {
		t.Fatal(err)
	}
	rt, err := bus.New(srv.Conn(t), bus.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	})
	led := newLedger()
	t.Cleanup(func() { close(led.stop) }) // before rt.Close, which waits for the handlers
	svc, err := rt.AddService(partSvc)
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range []contracts.Endpoint[cmdReq, cmdResp]{epReserve, epUnreserve, epCharge, epRefund, epSwitch, epUnswitch} {
		if err := bus.Handle(svc, ep, led.handler(ep.Name)); err != nil {
			t.Fatal(err)
		}
	}
	return &env{pool: pool, rt: rt, led: led}
}

// testOptions make leases and polls short, so that take-overs happen within a test.
func testOptions() orchestrate.Options {
	return orchestrate.Options{PollInterval: 50 * time.Millisecond, LeaseMargin: 300 * time.Millisecond,
		CompensationAttempts: 3, CompensationBackoff: 20 * time.Millisecond, Logger: quietLogger()}
}

// start returns a started orchestrator of def, stopped when the test ends.
func (e *env) start(t *testing.T, def orchestrate.Saga[plan], opts orchestrate.Options) *orchestrate.Orchestrator[plan] {
	t.Helper()
	o, err := orchestrate.New(e.pool, e.rt.NewClient("orchestrator"), def, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = o.Stop(ctx)
	})
	return o
}

func wait(t *testing.T, o *orchestrate.Orchestrator[plan], id string) orchestrate.Status[plan] {
	t.Helper()
	st, err := o.Wait(ctxT(t, 30*time.Second), id, 20*time.Millisecond)
	if err != nil {
		t.Fatalf("saga %s: %v (last status %+v)", id, err, st)
	}
	return st
}

func key(id, step string) string { return orchestrate.Key("plan_test", id, step) }

func ckey(id, step string) string { return orchestrate.CompensationKey("plan_test", id, step) }
