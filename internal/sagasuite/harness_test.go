package sagasuite

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
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

// declared are the services' settings lists: a mistyped key in settings fails the test.
var declared = map[string][]bus.Setting{
	"catalog": catalog.Settings, "subscription": subscription.Settings, "billing": billing.Settings, "notify": notify.Settings,
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

// stack is the three saga services in this process on one nats-server, each on the service
// kit with its own runtime (as its own process would have) and database, driven through the
// typed clients on the test's own runtime, whose issuer signs for all three.
type stack struct {
	t     testing.TB
	log   *slog.Logger // the services' log, shown when the test fails (failureLog)
	nats  *moatest.NATSServer
	rt    *bus.Runtime
	iss   *authntest.Issuer
	c     *client.Client
	sub   *client.SubscriptionClient
	bill  *client.BillingClient
	set   settings
	kits  map[string]*moatest.Kit[bus.Component]
	urls  map[string]string              // of the services started so far
	pools map[string]*pgxpool.Pool       // on urls, for assertions
	regs  map[string]prometheus.Gatherer // each service's metrics
}

func quietLogger() *slog.Logger {
	if os.Getenv("MOA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// failureLog is a debug-level log kept in memory (its last failureLogMax bytes) and written to
// the test's output only if the test fails: a saga that stalls under a loaded CI machine then
// shows what its services did, where quietLogger shows nothing. MOA_TEST_LOG writes it to
// stderr as it comes instead.
func failureLog(t testing.TB) *slog.Logger {
	if os.Getenv("MOA_TEST_LOG") != "" {
		return quietLogger()
	}
	w := &tailBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the services' log (its last %d KiB):\n%s", failureLogMax/1024, w.String())
		}
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

const failureLogMax = 256 << 10

// tailBuffer keeps the last failureLogMax bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - failureLogMax; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
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
	rt := moatest.Runtime(t, n)
	s := &stack{t: t, nats: n, rt: rt, iss: authntest.NewIssuer(t, rt), c: client.New(rt.Client()),
		sub: client.NewSubscriptionClient(rt.Client()), bill: client.NewBillingClient(rt.Client()),
		set: set, kits: map[string]*moatest.Kit[bus.Component]{}, urls: map[string]string{},
		pools: map[string]*pgxpool.Pool{}, regs: map[string]prometheus.Gatherer{}, log: failureLog(t)}
	if len(only) == 0 {
		only = services
	}
	for _, name := range only {
		s.start(name)
	}
	return s
}

// start starts one service, with a database of its own the first time.
func (s *stack) start(name string) {
	s.t.Helper()
	if k := s.kits[name]; k != nil {
		k.Start(s.t)
		return
	}
	k := moatest.Service(s.t, starts[name], moatest.With{NATS: s.nats, Postgres: true, NoIssuer: true,
		Settings: s.set[name], Declared: declared[name], Logger: s.log.With("service", name)})
	s.kits[name], s.urls[name], s.pools[name] = k, k.Env.PostgresURL, k.Postgres
	reg, ok := k.Runtime.Registry().(prometheus.Gatherer)
	if !ok {
		s.t.Fatalf("%s: the runtime's registry cannot be gathered", name)
	}
	s.regs[name] = reg
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
