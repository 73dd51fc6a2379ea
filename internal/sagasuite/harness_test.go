package sagasuite

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/billing"
	"github.com/moa-run/moa/services/catalog"
	"github.com/moa-run/moa/services/notify"
	"github.com/moa-run/moa/services/subscription"
)

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) != "" {
		// A service process of the fault suite: it runs TestServiceProcess only, on the
		// parent's servers, without a PostgreSQL of its own.
		os.Exit(m.Run())
	}
	moatest.Main(m)
}

// services names the saga's services in start order.
var services = []string{"catalog", "subscription", "billing"}

var starts = map[string]bus.StartFunc{
	"catalog": catalog.Start, "subscription": subscription.Start, "billing": billing.Start, "notify": notify.Start,
}

// settings are per-service settings (keys without the MOA_<SERVICE>_ prefix).
type settings map[string]map[string]string

func (s settings) get(service string) func(string) string {
	return func(k string) string { return s[service][k] }
}

// fastSettings make the saga's timers short enough for tests.
func fastSettings() settings {
	return settings{
		"catalog":      {"CACHE_TTL": "0"},
		"subscription": {"SWEEP_INTERVAL": "500ms", "STUCK_AFTER": "20s", "TIMEOUT_AFTER": "10m"},
		"billing":      {},
	}
}

// stack is the three saga services in this process on one nats-server, each with its own
// database, driven through the typed clients.
type stack struct {
	t     testing.TB
	nats  *moatest.NATSServer
	rt    *bus.Runtime
	iss   *authntest.Issuer
	c     *client.Client
	sub   *client.SubscriptionClient
	bill  *client.BillingClient
	urls  map[string]string
	pools map[string]*pgxpool.Pool
	set   settings
	comps map[string]bus.Component
	regs  map[string]*prometheus.Registry
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

// newStack starts the services named in only (all when empty) with set.
func newStack(t testing.TB, set settings, only ...string) *stack {
	t.Helper()
	n := moatest.NATS(t)
	rt, err := bus.New(n.Conn(t), bus.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	})
	s := &stack{t: t, nats: n, rt: rt, iss: authntest.NewIssuer(t, rt), c: client.New(rt.Client()),
		sub: client.NewSubscriptionClient(rt.Client()), bill: client.NewBillingClient(rt.Client()),
		urls: map[string]string{}, pools: map[string]*pgxpool.Pool{}, set: set, comps: map[string]bus.Component{},
		regs: map[string]*prometheus.Registry{}}
	for _, name := range services {
		s.urls[name] = moatest.Postgres(t)
		pool, err := pgxpool.New(context.Background(), s.urls[name])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		s.pools[name] = pool
	}
	if len(only) == 0 {
		only = services
	}
	for _, name := range only {
		s.start(name)
	}
	return s
}

// start starts one service on its own runtime (as its own process would have).
func (s *stack) start(name string) {
	s.t.Helper()
	if s.regs[name] == nil {
		s.regs[name] = prometheus.NewRegistry()
	}
	rt, err := bus.New(s.nats.Conn(s.t), bus.WithLogger(quietLogger()), bus.WithRegisterer(s.regs[name]))
	if err != nil {
		s.t.Fatal(err)
	}
	comp, err := starts[name](ctxT(s.t, time.Minute), bus.Env{Runtime: rt, Logger: quietLogger(), PostgresURL: s.urls[name], Setting: s.set.get(name)})
	if err != nil {
		s.t.Fatalf("%s.Start: %v", name, err)
	}
	s.comps[name] = bus.Stopper(func(ctx context.Context) error {
		return errors.Join(comp.Stop(ctx), rt.Close(ctx, false))
	})
	s.t.Cleanup(func() { s.stop(name) })
}

// stop stops one service (idempotent).
func (s *stack) stop(name string) {
	comp := s.comps[name]
	if comp == nil {
		return
	}
	delete(s.comps, name)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := comp.Stop(ctx); err != nil {
		s.t.Logf("%s stop: %v", name, err)
	}
}

// as returns a context carrying p's token.
func (s *stack) as(p contracts.Principal) context.Context {
	return s.iss.Context(ctxT(s.t, 30*time.Second), p)
}

// product publishes a product of seller with capacity seats at price.
func (s *stack) product(seller contracts.Principal, capacity int, price int64) contracts.Product {
	s.t.Helper()
	p, err := s.c.Catalog.CreateProduct(s.as(seller), contracts.CreateProductRequest{
		Title: "Family plan", PriceAmount: price, Currency: "KRW", BillingPeriod: contracts.BillingMonthly,
		Terms: "Cancel any time.", Capacity: capacity,
	})
	if err != nil {
		s.t.Fatalf("create product: %v", err)
	}
	return p
}

// subscribe subscribes consumer to product.
func (s *stack) subscribe(consumer contracts.Principal, productID string) contracts.Subscription {
	s.t.Helper()
	sub, err := s.sub.Subscribe(s.as(consumer), productID, "")
	if err != nil {
		s.t.Fatalf("subscribe: %v", err)
	}
	if sub.State != contracts.SubPending {
		s.t.Fatalf("new subscription is %s, want PENDING", sub.State)
	}
	return sub
}

// settle waits until the subscription reaches state and returns it.
func (s *stack) settle(consumer contracts.Principal, id string, state contracts.SubscriptionState) contracts.Subscription {
	s.t.Helper()
	var got contracts.Subscription
	moatest.WaitFor(s.t, 30*time.Second, func() error {
		var err error
		if got, err = s.sub.Get(s.as(consumer), id); err != nil {
			return err
		}
		if got.State != state {
			return errors.New("state " + string(got.State) + ", want " + string(state))
		}
		return nil
	})
	return got
}

// seatsTaken reads a product's seat count from the catalog's database.
func (s *stack) seatsTaken(productID string) int {
	s.t.Helper()
	var n int
	if err := s.pools["catalog"].QueryRow(ctxT(s.t, 10*time.Second), `SELECT seats_taken FROM products WHERE id = $1`, productID).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

// ledger counts the simulated provider's successful records of kind for a subscription.
func (s *stack) ledger(kind, subscriptionID string) (n int, sum int64) {
	s.t.Helper()
	if err := s.pools["billing"].QueryRow(ctxT(s.t, 10*time.Second), `SELECT count(*), coalesce(sum(amount_minor), 0)
		FROM sim_provider_ledger WHERE idempotency_key = $1 AND succeeded`, kind+":"+subscriptionID).Scan(&n, &sum); err != nil {
		s.t.Fatal(err)
	}
	return n, sum
}
