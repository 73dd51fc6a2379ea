package payout_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/payout/adapters"
	"github.com/moa-run/moa/services/payout/app"
	"github.com/moa-run/moa/services/payout/domain"
)

// Two writers load the same ledger; the first append wins, the second gets the conflict,
// reloads, decides again on the winner's state and appends: no update is lost, and a decision
// that no longer holds (paying out a balance already paid out) is refused, not applied twice.
func TestConcurrentWritersOneWinsTheOtherRetries(t *testing.T) {
	f := start(t, nil)
	s := f.store(0)
	ctx, seller := ctxT(t), uuid.NewString()
	now := time.Now()

	a, err := s.Load(ctx, seller)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Load(ctx, seller)
	if err != nil {
		t.Fatal(err)
	}
	ea := a.Credit(uuid.NewString(), uuid.NewString(), "KRW", 1_000, 0, now)
	eb := b.Credit(uuid.NewString(), uuid.NewString(), "KRW", 2_000, 0, now)
	seqA, _, err := s.Append(ctx, *ea, a.Seq)
	if err != nil {
		t.Fatalf("first writer: %v", err)
	}
	if _, _, err := s.Append(ctx, *eb, b.Seq); !errors.Is(err, app.ErrConflict) {
		t.Fatalf("second writer on the stale sequence %d: %v, want the conflict", b.Seq, err)
	}
	if b, err = s.Load(ctx, seller); err != nil {
		t.Fatal(err)
	}
	if b.Seq != seqA || b.Balances["KRW"] != 1_000 {
		t.Fatalf("reloaded: seq %d balance %d, want %d and the winner's 1000", b.Seq, b.Balances["KRW"], seqA)
	}
	if _, _, err := s.Append(ctx, *eb, b.Seq); err != nil {
		t.Fatalf("retry on the new state: %v", err)
	}

	// Both decide to pay out the whole 3000.
	a, _ = s.Load(ctx, seller)
	b, _ = s.Load(ctx, seller)
	pa, err := a.RequestPayout(uuid.NewString(), "KRW", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.RequestPayout(uuid.NewString(), "KRW", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Append(ctx, pa, a.Seq); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Append(ctx, pb, b.Seq); !errors.Is(err, app.ErrConflict) {
		t.Fatalf("second payout of the same balance: %v, want the conflict", err)
	}
	b, _ = s.Load(ctx, seller)
	if _, err := b.RequestPayout(uuid.NewString(), "KRW", 0, now); !errors.Is(err, contracts.ErrConflict) {
		t.Fatalf("deciding again on the paid-out balance: %v, want nothing to pay", err)
	}
	if b.Balances["KRW"] != 0 || b.Pending[pa.PayoutID].AmountMinor != 3_000 {
		t.Fatalf("final ledger %+v, want 0 and one payout of 3000", b)
	}
}

// Many credits of one seller through two app instances at once: appends collide, are retried,
// and every one counts once.
func TestConcurrentCreditsLoseNothing(t *testing.T) {
	f := start(t, nil)
	var conflicts atomic.Int64
	seller := uuid.NewString()
	product := f.product(seller)
	var apps []*app.App
	for range 2 {
		a, _ := f.app(&adapters.SimBank{}, app.Config{FeeBps: 0, SnapshotEvery: 5})
		a.Conflicts = func() { conflicts.Add(1) }
		apps = append(apps, a)
	}
	const n = 60
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- apps[i%2].Credit(ctxT(t), app.Payment{EventID: uuid.NewString(), PaymentID: uuid.NewString(),
				ProductID: product, AmountMinor: int64(i + 1), Currency: "KRW", At: time.Now()})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	l, err := f.store(0).Load(ctxT(t), seller)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(n * (n + 1) / 2); l.Balances["KRW"] != want || l.Events != n {
		t.Fatalf("balance %d over %d entries, want %d over %d", l.Balances["KRW"], l.Events, want, n)
	}
	if conflicts.Load() == 0 {
		t.Fatal("no append collided: the test did not race")
	}
	t.Logf("%d credits, %d conflicts retried", n, conflicts.Load())
}

// fill appends n credits of 1 to seller without expectations (a fast way to give a seller a long
// history), snapshotting the ledger tail entries before the end as the app would have.
func fill(t *testing.T, rt *bus.Runtime, s *adapters.Store, seller string, n, tail int) {
	t.Helper()
	js := rt.JetStream()
	subject := contracts.PayoutLedgerEvent.Subject(seller)
	var futures []jetstream.PubAckFuture
	for i := range n {
		e := domain.Entry{ID: domain.EntryID(domain.Credited, fmt.Sprintf("%s-%d", seller, i)), Kind: domain.Credited,
			SellerID: seller, Currency: "KRW", GrossMinor: 1, At: time.Now()}
		env, _, err := bus.NewEnvelope(ctxT(t), nil, "payout", contracts.PayoutLedgerEvent, seller, adapters.Wire(e))
		if err != nil {
			t.Fatal(err)
		}
		env.ID = e.ID
		msg, err := bus.EnvelopeMsg(subject, env)
		if err != nil {
			t.Fatal(err)
		}
		fut, err := js.PublishMsgAsync(msg)
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, fut)
		if i%1000 == 999 || i == n-1 { // a bounded window in flight: no stall on a busy machine
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(2 * time.Minute):
				t.Fatal("async publishes did not complete")
			}
		}
	}
	for _, fut := range futures {
		select {
		case err := <-fut.Err():
			t.Fatal(err)
		default:
		}
	}
	// The snapshot the app would have saved tail entries ago.
	l := domain.NewLedger(seller, 0)
	count := 0
	err := s.Scan(ctxT(t), subject, 1, lastSeq(t, rt), func(e domain.Entry, seq uint64) error {
		if e.SellerID != seller {
			return nil
		}
		l.Apply(e, seq)
		if count++; count == n-tail {
			l.SnapshotEvents = l.Events
			return s.SaveSnapshot(ctxT(t), l)
		}
		return nil
	})
	if err != nil && !strings.Contains(err.Error(), "did not arrive") {
		t.Fatal(err)
	}
}

func lastSeq(t *testing.T, rt *bus.Runtime) uint64 {
	st, err := rt.JetStream().Stream(ctxT(t), contracts.StreamPayout.Name)
	if err != nil {
		t.Fatal(err)
	}
	return st.CachedInfo().State.LastSeq
}

// timed returns the median duration of runs of fn after one to warm the server's caches up.
func timed(t *testing.T, runs int, fn func() (*domain.Ledger, error), want int64) time.Duration {
	t.Helper()
	if _, err := fn(); err != nil {
		t.Fatal(err)
	}
	var ds []time.Duration
	for range runs {
		t0 := time.Now()
		l, err := fn()
		ds = append(ds, time.Since(t0))
		if err != nil {
			t.Fatal(err)
		}
		if l.Balances["KRW"] != want {
			t.Fatalf("loaded balance %d, want %d", l.Balances["KRW"], want)
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// Loading a seller reads the latest snapshot and the tail after it: the load time of a ledger
// of 100,000 entries stays that of one of 1,000, where a replay from the start grows with it.
func TestSnapshotKeepsLoadFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 111,000 ledger entries")
	}
	// The store alone on a server of its own: the service's projection would be busy with
	// the 111,000 entries beside the timings.
	rt := moatest.Runtime(t, moatest.NATS(t))
	s, err := adapters.NewStore(ctxT(t), rt, adapters.LedgerCodec, 0)
	if err != nil {
		t.Fatal(err)
	}
	const tail = 50 // as if SNAPSHOT_EVERY were above 50
	sizes := []int{1_000, 10_000, 100_000}
	sellers := map[int]string{}
	for _, n := range sizes {
		sellers[n] = uuid.NewString()
		fill(t, rt, s, sellers[n], n, tail)
	}
	loads := map[int]time.Duration{}
	for _, n := range sizes {
		seller := sellers[n]
		loads[n] = timed(t, 9, func() (*domain.Ledger, error) { return s.Load(ctxT(t), seller) }, int64(n))
		replay := timed(t, 3, func() (*domain.Ledger, error) { return s.Replay(ctxT(t), seller) }, int64(n))
		t.Logf("%7d entries: load (snapshot + %d) %v, replay from the start %v", n, tail, loads[n], replay)
		if n == 100_000 && loads[n]*10 > replay {
			t.Errorf("loading 100k entries took %v, not a tenth of the replay's %v", loads[n], replay)
		}
	}
	// Generous against a loaded machine; the figures above are what to read.
	if loads[100_000] > 10*loads[1_000]+50*time.Millisecond {
		t.Errorf("load grew with the history: %v at 1k, %v at 100k", loads[1_000], loads[100_000])
	}
}

// ledgerV1 is the version-1 shape of a ledger entry, as the old code wrote it: a credit or
// refund's net effect in amount_minor, no gross and fee.
type ledgerV1 struct {
	Kind        string    `json:"kind"`
	SellerID    string    `json:"seller_id"`
	Currency    string    `json:"currency"`
	PaymentID   string    `json:"payment_id,omitempty"`
	PayoutID    string    `json:"payout_id,omitempty"`
	AmountMinor int64     `json:"amount_minor"`
	Reason      string    `json:"reason,omitempty"`
	At          time.Time `json:"at"`
}

// Entries written as version 1 replay through the upcaster as version 2: the ledger, a new
// version-2 entry on top, and the history projection rebuilt from the stream all agree.
func TestVersion1EntriesUpcastOnReplay(t *testing.T) {
	f := start(t, nil)
	s := f.store(0)
	ctx, seller, payoutID := ctxT(t), uuid.NewString(), uuid.NewString()
	at := time.Now().UTC().Truncate(time.Millisecond)
	var seq uint64
	for _, v1 := range []ledgerV1{
		{Kind: domain.Credited, PaymentID: uuid.NewString(), AmountMinor: 900},
		{Kind: domain.Refunded, PaymentID: uuid.NewString(), AmountMinor: 200},
		{Kind: domain.PayoutRequested, PayoutID: payoutID, AmountMinor: 300},
		{Kind: domain.PayoutReversed, PayoutID: payoutID, AmountMinor: 300, Reason: "account_closed"},
	} {
		v1.SellerID, v1.Currency, v1.At = seller, "KRW", at
		data, _ := json.Marshal(v1)
		env := contracts.Envelope{ID: uuid.NewString(), Type: contracts.PayoutLedgerEvent.Type(), Source: "payout", Key: seller,
			OccurredAt: at, SchemaVersion: 1, Data: data}
		var err error
		if seq, _, err = s.AppendEnvelope(ctx, env, seq); err != nil {
			t.Fatal(err)
		}
	}

	l, err := s.Load(ctx, seller)
	if err != nil {
		t.Fatal(err)
	}
	if l.Balances["KRW"] != 700 || len(l.Pending) != 0 || l.Events != 4 {
		t.Fatalf("v1 ledger read as v2: %+v, want 900 − 200 − 300 + 300 = 700 over 4 entries", l)
	}
	e := l.Credit(uuid.NewString(), uuid.NewString(), "KRW", 1_000, 1000, time.Now())
	if _, _, err := s.Append(ctx, *e, l.Seq); err != nil {
		t.Fatal(err)
	}
	if l, err = s.Replay(ctx, seller); err != nil || l.Balances["KRW"] != 1_600 {
		t.Fatalf("v1 + v2 replayed: %+v %v, want 700 + 1000 − 100", l, err)
	}

	// The projection, rebuilt from the stream, reads the v1 entries the same way.
	f.waitHistory()
	h := adapters.NewHistory(f.Postgres)
	if _, err := h.Rebuild(ctx, func(ctx context.Context, fn func(domain.Entry, uint64) error) error {
		return s.Scan(ctx, contracts.PayoutLedgerEvent.Filter(), 1, lastSeq(t, f.Runtime), fn)
	}); err != nil {
		t.Fatal(err)
	}
	var projected int64
	if err := f.Postgres.QueryRow(ctx, `SELECT amount_minor FROM payout_balances WHERE seller_id = $1`, seller).Scan(&projected); err != nil {
		t.Fatal(err)
	}
	items, _, err := h.Page(ctx, seller, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if projected != 1_600 || len(items) != 1 || items[0].Status != contracts.PayoutReversed || items[0].Reason != "account_closed" {
		t.Fatalf("rebuilt projection: balance %d, history %+v", projected, items)
	}

	// A version this code does not know is an error naming it, not a guess.
	_, err = adapters.LedgerCodec.Decode(contracts.Envelope{ID: "x", SchemaVersion: 3, Data: json.RawMessage(`{}`)})
	if err == nil || !strings.Contains(err.Error(), "schema version 3") {
		t.Fatalf("decoding a v3 entry: %v", err)
	}
	// And the v1 code could not read what v2 writes the same way: without the upcaster a v1
	// credit moves nothing (what the version exists to say).
	old := adapters.Codec{Current: 2}
	if _, err := old.Decode(contracts.Envelope{ID: "y", SchemaVersion: 1, Data: json.RawMessage(`{"kind":"credited","amount_minor":5}`)}); err == nil {
		t.Fatal("a v1 entry decoded without an upcaster")
	}
}
