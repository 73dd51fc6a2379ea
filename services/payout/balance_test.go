package payout_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/payout/adapters"
	"github.com/moa-run/moa/services/payout/app"
	"github.com/moa-run/moa/services/payout/domain"
)

// parityBank rejects the payouts of an odd amount: deterministic given the operations, so a
// seed replays the same rejections whatever the interleaving.
type parityBank struct{}

func (parityBank) Transfer(_ context.Context, t app.Transfer) (string, error) {
	if t.AmountMinor%2 == 1 {
		return "", errors.Join(app.ErrRejected, errors.New("odd amount"))
	}
	return "ref-" + t.PayoutID[:8], nil
}

// books is what the test itself counts per seller.
type books struct {
	mu                                          sync.Mutex
	payments, fees, refunds, payouts, reversals int64
}

// The ledger balances under random interleavings of payments, refunds, duplicates, payouts and
// rejected payouts, from several workers on two app instances at once: for every seller, the
// ledger (loaded through snapshots, and replayed from the start) and the projection equal
// payments − refunds − fees − payouts + reversed payouts. PAYOUT_SEED replays a run.
func TestLedgerBalancesUnderRandomInterleavings(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PAYOUT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (PAYOUT_SEED=%d replays it)", seed, seed)

	f := start(t, nil)
	const feeBps, workers, ops = 750, 4, 60
	// A small memory of entry ids, so that older duplicates are left to the stream's window.
	cfg := app.Config{FeeBps: feeBps, SnapshotEvery: 7}
	var apps []*app.App
	for range 2 {
		s, err := adapters.NewStore(ctxT(t), f.Runtime, adapters.LedgerCodec, 20)
		if err != nil {
			t.Fatal(err)
		}
		apps = append(apps, app.New(s, adapters.NewHistory(f.Postgres), parityBank{}, f.catalog, cfg, nil))
	}
	sellers := make([]string, 3)
	products := map[string]string{}
	booksOf := map[string]*books{}
	for i := range sellers {
		sellers[i] = uuid.NewString()
		products[sellers[i]] = f.product(sellers[i])
		booksOf[sellers[i]] = &books{}
	}

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- work(ctxT(t), rand.New(rand.NewPCG(seed, uint64(w))), apps[w%2], sellers, products, booksOf, feeBps, ops)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}

	f.waitHistory()
	store := f.store(0)
	for _, seller := range sellers {
		b := booksOf[seller]
		want := b.payments - b.refunds - b.fees - b.payouts + b.reversals
		loaded, err := store.Load(ctxT(t), seller)
		if err != nil {
			t.Fatal(err)
		}
		replayed, err := store.Replay(ctxT(t), seller)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		if err := store.Scan(ctxT(t), contracts.PayoutLedgerEvent.Subject(seller), 1, replayed.Seq, func(e domain.Entry, _ uint64) error {
			sum += e.Delta()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var projected int64
		if err := f.Postgres.QueryRow(ctxT(t), `SELECT coalesce(sum(amount_minor), 0) FROM payout_balances WHERE seller_id = $1`, seller).Scan(&projected); err != nil {
			t.Fatal(err)
		}
		t.Logf("seller %s: payments %d − refunds %d − fees %d − payouts %d + reversed %d = %d over %d entries",
			seller[:8], b.payments, b.refunds, b.fees, b.payouts, b.reversals, want, replayed.Events)
		if loaded.Balances["KRW"] != want || replayed.Balances["KRW"] != want || sum != want || projected != want {
			t.Errorf("seed %d, seller %s: loaded %d, replayed %d, sum of entries %d, projected %d; want %d",
				seed, seller, loaded.Balances["KRW"], replayed.Balances["KRW"], sum, projected, want)
		}
		if len(loaded.Pending) != 0 {
			t.Errorf("seller %s: payouts left pending %v", seller, loaded.Pending)
		}
	}
}

// work runs ops random operations on a, counting in booksOf what each should do.
func work(ctx context.Context, r *rand.Rand, a *app.App, sellers []string, products map[string]string,
	booksOf map[string]*books, feeBps, ops int) error {
	type sent struct {
		refund bool
		p      app.Payment
	}
	var done []sent
	for range ops {
		seller := sellers[r.IntN(len(sellers))]
		b := booksOf[seller]
		p := app.Payment{EventID: uuid.NewString(), PaymentID: uuid.NewString(), ProductID: products[seller],
			Currency: "KRW", At: time.Now()}
		switch k := r.IntN(10); {
		case k < 4: // a payment
			p.AmountMinor = 1 + r.Int64N(10_000)
			if err := a.Credit(ctx, p); err != nil {
				return err
			}
			b.mu.Lock()
			b.payments += p.AmountMinor
			b.fees += domain.Fee(p.AmountMinor, feeBps)
			b.mu.Unlock()
			done = append(done, sent{p: p})
		case k < 5: // a refund
			p.AmountMinor = 1 + r.Int64N(3_000)
			if err := a.Refund(ctx, p); err != nil {
				return err
			}
			b.mu.Lock()
			b.refunds += p.AmountMinor
			b.mu.Unlock()
			done = append(done, sent{refund: true, p: p})
		case k < 7: // a duplicate of something this worker sent: nothing must move
			if len(done) == 0 {
				continue
			}
			d := done[r.IntN(len(done))]
			fn := a.Credit
			if d.refund {
				fn = a.Refund
			}
			if err := fn(ctx, d.p); err != nil {
				return err
			}
		default: // a payout of everything or of a part; odd amounts are rejected and reversed
			amount := int64(0)
			if r.IntN(2) == 0 {
				amount = 1 + r.Int64N(5_000)
			}
			seller := seller
			rec, err := a.RequestPayout(ctx, seller, "KRW", amount)
			if errors.Is(err, contracts.ErrConflict) {
				continue // the balance does not cover it: nothing moved
			}
			if err != nil {
				return err
			}
			b.mu.Lock()
			b.payouts += rec.AmountMinor
			if rec.Status == contracts.PayoutReversed {
				b.reversals += rec.AmountMinor
			}
			b.mu.Unlock()
		}
	}
	return nil
}
