package sagasuite

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	billingadapters "github.com/moa-run/moa/services/billing/adapters"
	catalogadapters "github.com/moa-run/moa/services/catalog/adapters"
	subscriptionadapters "github.com/moa-run/moa/services/subscription/adapters"
)

// benchConcurrency is how many sagas are in flight at once, on both sides (closed loop: each
// worker starts its next saga when the last one is ACTIVE). MOA_BENCH_CONCURRENCY overrides it.
var benchConcurrency = func() int {
	if n, err := strconv.Atoi(os.Getenv("MOA_BENCH_CONCURRENCY")); err == nil && n > 0 {
		return n
	}
	return 16
}()

// benchResult is one side's measurement.
type benchResult struct {
	n        int
	wall     time.Duration
	p50, p99 time.Duration
}

func (r benchResult) perSecond() float64 { return float64(r.n) / r.wall.Seconds() }

// BenchmarkSagaVsMonolith measures the subscription saga end to end (subscribe → ACTIVE
// observed as subscription.activated) across catalog, subscription and billing with their
// outboxes and inboxes, next to a "monolith" doing the same writes (subscription, seat,
// reservation, payment, provider record, dashboard) in one PostgreSQL transaction, on the
// same PostgreSQL server, in the same run. b.N sagas per side; run it with a fixed count:
//
//	go test -run '^$' -bench SagaVsMonolith -benchtime 400x ./internal/sagasuite/
func BenchmarkSagaVsMonolith(b *testing.B) {
	var saga, mono benchResult
	b.Run("saga", func(b *testing.B) {
		saga = benchSaga(b, b.N)
		report(b, saga)
	})
	b.Run("monolith", func(b *testing.B) {
		mono = benchMonolith(b, b.N)
		report(b, mono)
	})
	if saga.n > 0 && mono.n > 0 {
		b.Logf("saga %.1f sagas/s (p50 %v, p99 %v) vs monolith %.1f/s (p50 %v, p99 %v): ratio %.2f× (target ≥ 0.5×), concurrency %d",
			saga.perSecond(), saga.p50, saga.p99, mono.perSecond(), mono.p50, mono.p99, saga.perSecond()/mono.perSecond(), benchConcurrency)
	}
}

func report(b *testing.B, r benchResult) {
	b.ReportMetric(r.perSecond(), "sagas/s")
	b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op") // wall time per saga is meaningless with sagas in flight at once
}

func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[len(lat)*50/100], lat[min(len(lat)-1, len(lat)*99/100)]
}

// closedLoop runs n jobs on benchConcurrency workers and returns the wall time and latencies.
func closedLoop(n int, job func(i int) (time.Duration, error)) (benchResult, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range benchConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || firstErr.Load() != nil {
					return
				}
				d, err := job(i)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat[i] = d
			}
		}()
	}
	wg.Wait()
	r := benchResult{n: n, wall: time.Since(start)}
	r.p50, r.p99 = percentiles(lat)
	if err, _ := firstErr.Load().(error); err != nil {
		return r, err
	}
	return r, nil
}

func benchSaga(b *testing.B, n int) benchResult {
	b.StopTimer()
	set := settings{"catalog": {}, "subscription": {}, "billing": {}}
	s := newStack(b, set)
	seller := authntest.Seller()
	var products []contracts.Product
	for range 10 {
		products = append(products, s.product(seller, contracts.MaxCapacity, 5900))
	}
	// Activations are watched on the stream's subjects with a plain subscription.
	var mu sync.Mutex
	waiting := map[string]chan struct{}{}
	early := map[string]bool{}
	nc := s.nats.Conn(b)
	sub, err := nc.Subscribe(contracts.SubscriptionActivated.Filter(), func(m *nats.Msg) {
		key := m.Subject[len(contracts.SubscriptionActivated.Filter())-1:]
		mu.Lock()
		defer mu.Unlock()
		if ch, ok := waiting[key]; ok {
			close(ch)
			delete(waiting, key)
		} else {
			early[key] = true
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	// saga runs one saga for a new consumer and returns its id, the subscribe call's time and
	// the time until it was observed ACTIVE.
	saga := func(product string) (id string, call, total time.Duration, err error) {
		ctx, cancel := context.WithTimeout(s.iss.Context(context.Background(), authntest.Consumer()), 30*time.Second)
		defer cancel()
		start := time.Now()
		got, err := s.sub.Subscribe(ctx, product, "")
		if err != nil {
			return "", 0, 0, err
		}
		call = time.Since(start)
		ch := make(chan struct{})
		mu.Lock()
		if early[got.ID] {
			close(ch)
		} else {
			waiting[got.ID] = ch
		}
		mu.Unlock()
		select {
		case <-ch:
			return got.ID, call, time.Since(start), nil
		case <-ctx.Done():
			return "", 0, 0, fmt.Errorf("saga %s not active within 30s", got.ID)
		}
	}
	// Warm up (connections, caches, the verifier's keys), untimed.
	if _, err := closedLoop(2*benchConcurrency, func(i int) (time.Duration, error) {
		_, _, d, err := saga(products[i%len(products)].ID)
		return d, err
	}); err != nil {
		b.Fatal(err)
	}
	calls := make([]time.Duration, n) // the subscribe call alone
	ids := make([]string, n)
	commits0 := s.commits()
	b.StartTimer()
	r, err := closedLoop(n, func(i int) (time.Duration, error) {
		id, call, total, err := saga(products[i%len(products)].ID)
		ids[i], calls[i] = id, call
		return total, err
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	commits := s.commits() - commits0
	c50, c99 := percentiles(calls)
	b.Logf("where a saga's time goes (%d sagas, %.1f PostgreSQL commits per saga, %.0f commits/s):\n  subscribe call p50 %v p99 %v max %v\n%s",
		n, float64(commits)/float64(n), float64(commits)/r.wall.Seconds(),
		c50.Round(100*time.Microsecond), c99.Round(100*time.Microsecond), maxOf(calls).Round(100*time.Microsecond), hops(b, s.rt.JetStream(), ids))
	return r
}

func benchMonolith(b *testing.B, n int) benchResult {
	b.StopTimer()
	ctx := ctxT(b, 10*time.Minute)
	cfg, err := pgxpool.ParseConfig(moatest.Postgres(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = int32(2 * benchConcurrency)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	// One database with the three services' schemas: the monolith owns all the tables.
	for _, migrate := range []func(context.Context, *pgxpool.Pool) error{catalogadapters.Migrate, subscriptionadapters.Migrate, billingadapters.Migrate} {
		if err := migrate(ctx, pool); err != nil {
			b.Fatal(err)
		}
	}
	seller := uuid.NewString()
	var products []string
	for range 10 {
		id := uuid.NewString()
		if _, err := pool.Exec(ctx, `INSERT INTO products (id, seller_id, title, price_amount, currency, billing_period, terms, capacity, created_at, updated_at)
			VALUES ($1, $2, 'Family plan', 5900, 'KRW', 'monthly', 'Cancel any time.', $3, now(), now())`, id, seller, contracts.MaxCapacity); err != nil {
			b.Fatal(err)
		}
		products = append(products, id)
	}
	one := func(i int) (time.Duration, error) {
		start := time.Now()
		err := monolithSubscribe(ctx, pool, products[i%len(products)], uuid.NewString())
		return time.Since(start), err
	}
	if _, err := closedLoop(2*benchConcurrency, one); err != nil { // warm up, untimed
		b.Fatal(err)
	}
	b.StartTimer()
	r, err := closedLoop(n, one)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("monolith: 1 PostgreSQL commit per saga, %.0f commits/s", r.perSecond())
	return r
}

// monolithSubscribe does what the saga does, in one transaction: read the product and take a
// seat, record the subscription and the reservation, charge (the provider's record and the
// payment), activate, and count it in the dashboard.
func monolithSubscribe(ctx context.Context, pool *pgxpool.Pool, productID, consumerID string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var price int64
		var currency, period, seller string
		if err := tx.QueryRow(ctx, `UPDATE products SET seats_taken = seats_taken + 1
			WHERE id = $1 AND deleted_at IS NULL AND seats_taken < capacity
			RETURNING price_amount, currency, billing_period, seller_id`, productID).Scan(&price, &currency, &period, &seller); err != nil {
			return err
		}
		sub, _ := uuid.NewV7()
		now := time.Now()
		batch := &pgx.Batch{}
		batch.Queue(`INSERT INTO subscriptions (id, product_id, consumer_id, seller_id, state, price_minor, currency, billing_period,
			charged_minor, was_active, created_at, updated_at, activated_at, active_until, nudged_at)
			VALUES ($1, $2, $3, $4, 'ACTIVE', $5, $6, $7, $5, true, $8, $8, $8, $9, $8)`,
			sub, productID, consumerID, seller, price, currency, period, now, now.AddDate(0, 1, 0))
		batch.Queue(`INSERT INTO seat_reservations (subscription_id, product_id, state, consumer_id, seller_id, amount_minor, currency)
			VALUES ($1, $2, 'reserved', $3, $4, $5, $6)`, sub.String(), productID, consumerID, seller, price, currency)
		batch.Queue(`INSERT INTO sim_provider_ledger (idempotency_key, kind, amount_minor, currency, succeeded, ref)
			VALUES ($1, 'charge', $2, $3, true, $4)`, "charge:"+sub.String(), price, currency, "sim_charge_"+uuid.NewString())
		batch.Queue(`INSERT INTO payments (id, subscription_id, step, product_id, consumer_id, seller_id, amount_minor, currency,
			status, attempts, created_at, updated_at) VALUES ($1, $2, 'charge', $3, $4, $5, $6, $7, 'SUCCEEDED', 1, $8, $8)`,
			uuid.New(), sub.String(), productID, consumerID, seller, price, currency, now)
		batch.Queue(`INSERT INTO dashboard_facts (subscription_id, fact) VALUES ($1, 'activated'), ($1, 'charged')`, sub.String())
		batch.Queue(`INSERT INTO dashboard AS d (product_id, seller_id, currency, active_subscribers, revenue_minor)
			VALUES ($1, $2, $3, 1, $4) ON CONFLICT (product_id) DO UPDATE SET
			active_subscribers = d.active_subscribers + 1, revenue_minor = d.revenue_minor + EXCLUDED.revenue_minor`,
			productID, seller, currency, price)
		return tx.SendBatch(ctx, batch).Close()
	})
}

// commits is the number of committed transactions in the stack's databases so far. PostgreSQL
// publishes its statistics when a backend goes idle, so it waits a moment for them to settle.
func (s *stack) commits() int64 {
	s.t.Helper()
	var names []string
	for _, raw := range s.urls {
		u, err := url.Parse(raw)
		if err != nil {
			s.t.Fatal(err)
		}
		names = append(names, strings.TrimPrefix(u.Path, "/"))
	}
	var last int64 = -1
	for range 20 {
		var n int64
		if err := s.pools["catalog"].QueryRow(ctxT(s.t, 10*time.Second), `SELECT coalesce(sum(xact_commit), 0)::bigint
			FROM pg_stat_database WHERE datname = ANY($1)`, names).Scan(&n); err != nil {
			s.t.Fatal(err)
		}
		if n == last {
			return n
		}
		last = n
		time.Sleep(600 * time.Millisecond)
	}
	return last
}
