package payout_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/payout"
	"github.com/moa-run/moa/services/payout/adapters"
	"github.com/moa-run/moa/services/payout/app"
	"github.com/moa-run/moa/services/payout/domain"
)

// Billing re-emits a settled payment's event under a new event id when its sweeper re-sends a
// stuck saga step: the payment, not the event, is what counts, so the seller is credited (and
// refunded) once.
func TestReemittedPaymentUnderNewEventIDCountsOnce(t *testing.T) {
	f := start(t, map[string]string{"FEE_BPS": "1000"})
	seller := authntest.Seller()
	product := f.product(seller.UserID)
	sub := uuid.NewString()
	pay := contracts.PaymentData{SubscriptionID: sub, PaymentID: uuid.NewString(), ProductID: product, AmountMinor: 10_000, Currency: "KRW"}
	refund := contracts.PaymentData{SubscriptionID: sub, PaymentID: uuid.NewString(), ProductID: product, AmountMinor: 2_000, Currency: "KRW"}

	first := f.send(contracts.PaymentSucceededEvent, pay)
	again := f.send(contracts.PaymentSucceededEvent, pay)
	f.send(contracts.RefundIssuedEvent, refund)
	f.send(contracts.RefundIssuedEvent, refund)
	if first.ID == again.ID {
		t.Fatal("the re-emitted event kept its event id; the test needs a new one")
	}
	f.waitBilling()

	// 10 000 − 10% − 2 000, the payment and the refund once each.
	if bal, _ := f.balance(seller); bal != 7_000 {
		t.Fatalf("balance = %d, want 7000 (the payment and the refund once each)", bal)
	}
}

// A payment or refund of a product deleted since (the catalog answers not_found) reaches its
// seller by the seller id billing put in the event; an invalid seller id is refused.
func TestPaymentOfDeletedProductCreditsTheEventsSeller(t *testing.T) {
	f := start(t, map[string]string{"FEE_BPS": "1000"})
	seller := authntest.Seller()
	gone := uuid.NewString() // never in the catalog: deleted
	sub := uuid.NewString()
	f.send(contracts.PaymentSucceededEvent, contracts.PaymentData{SubscriptionID: sub, PaymentID: uuid.NewString(),
		ProductID: gone, SellerID: seller.UserID, AmountMinor: 10_000, Currency: "KRW"})
	f.send(contracts.RefundIssuedEvent, contracts.PaymentData{SubscriptionID: sub, PaymentID: uuid.NewString(),
		ProductID: gone, SellerID: seller.UserID, AmountMinor: 1_000, Currency: "KRW"})
	f.waitBilling()
	if bal, _ := f.balance(seller); bal != 8_000 {
		t.Fatalf("balance = %d, want 8000 (credited and refunded without the catalog)", bal)
	}

	a, _ := f.app(f.bank, app.Config{})
	err := a.Credit(ctxT(t), app.Payment{EventID: uuid.NewString(), PaymentID: uuid.NewString(), ProductID: gone,
		SellerID: "seller.>", AmountMinor: 1, Currency: "KRW", At: time.Now()})
	if !errors.Is(err, contracts.ErrValidation) {
		t.Fatalf("a payment naming an invalid seller id: %v, want a validation error", err)
	}
}

// dueList is a fixed list of work for one scheduled run.
type dueList struct{ pending, payable []app.Due }

func (d dueList) Pending(context.Context, time.Time, int) ([]app.Due, error) { return d.pending, nil }
func (d dueList) Payable(context.Context, int64, int) ([]app.Due, error)     { return d.payable, nil }

// One seller's failure does not hold the others' payouts back: it is counted, and the run goes
// on.
func TestScheduleGoesOnPastOneSellersError(t *testing.T) {
	f := start(t, map[string]string{"FEE_BPS": "0"})
	seller := authntest.Seller()
	f.billing(contracts.PaymentSucceededEvent, f.product(seller.UserID), 10_000)
	f.waitBilling()

	a, _ := f.app(f.bank, app.Config{})
	bad := app.Due{SellerID: "not-a-seller", Currency: "KRW", PayoutID: uuid.NewString()}
	paid, failed, err := a.RunSchedule(ctxT(t), dueList{
		pending: []app.Due{bad},
		payable: []app.Due{{SellerID: "not-a-seller", Currency: "KRW"}, {SellerID: seller.UserID, Currency: "KRW"}},
	}, 1, time.Minute, 10)
	if err != nil {
		t.Fatalf("the run ended on one seller's error: %v", err)
	}
	if paid != 1 || failed != 2 {
		t.Fatalf("paid %d, failed %d; want 1 paid and 2 failed", paid, failed)
	}
	if bal, _ := f.balance(seller); bal != 0 {
		t.Fatalf("the good seller's balance after the run = %d, want 0", bal)
	}
}

// lostAnswer is the real event store whose answer to a payout request's append is lost: the
// entry is stored, and the append reports it as the duplicate a retry would see.
type lostAnswer struct{ *adapters.Store }

func (s lostAnswer) Append(ctx context.Context, e domain.Entry, expected uint64) (uint64, bool, error) {
	seq, dup, err := s.Store.Append(ctx, e, expected)
	if err == nil && e.Kind == domain.PayoutRequested {
		return seq, true, nil
	}
	return seq, dup, err
}

// A payout request whose append comes back as a duplicate does not panic: the payout recorded
// is reloaded from the ledger and settled.
func TestPayoutRequestReportedDuplicateIsReloaded(t *testing.T) {
	f := start(t, map[string]string{"FEE_BPS": "0"})
	seller := authntest.Seller()
	f.billing(contracts.PaymentSucceededEvent, f.product(seller.UserID), 10_000)
	f.waitBilling()

	a := app.New(lostAnswer{f.store(0)}, adapters.NewHistory(f.Postgres), f.bank, f.catalog, app.Config{}, nil)
	rec, err := a.RequestPayout(ctxT(t), seller.UserID, "KRW", 4_000)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID == "" || rec.AmountMinor != 4_000 || rec.Status != contracts.PayoutPaid {
		t.Fatalf("payout %+v, want the recorded 4000 payout, paid", rec)
	}
	if bal, pending := f.balance(seller); bal != 6_000 || pending != 0 {
		t.Fatalf("balance %d, pending %d; want 6000 and none", bal, pending)
	}
}

// A ledger remembering as many entry ids as MOA_PAYOUT_DEDUPE_WINDOW allows still snapshots:
// the snapshot is one NATS message, under the server's 1 MB max payload.
func TestLargestDedupeWindowSnapshotFits(t *testing.T) {
	f := start(t, nil)
	window, err := strconv.Atoi(payout.SettingSeenWindow.Max)
	if err != nil {
		t.Fatal(err)
	}
	s := f.store(window)
	seller := uuid.NewString()
	l := domain.NewLedger(seller, window)
	now := time.Now()
	for i := range window {
		l.Apply(*l.Credit(uuid.NewString(), uuid.NewString(), "KRW", 1_000_000, 1000, now), uint64(i+1))
	}
	for i := range 10 {
		e, err := l.RequestPayout(uuid.NewString(), "KRW", 1_000, now)
		if err != nil {
			t.Fatal(err)
		}
		l.Apply(e, uint64(window+i+1))
	}
	if len(l.Seen) != window {
		t.Fatalf("ledger remembers %d ids, want %d", len(l.Seen), window)
	}
	if err := s.SaveSnapshot(ctxT(t), l); err != nil {
		t.Fatalf("a snapshot at the largest window (%d ids) was not saved: %v", window, err)
	}
}
