package billing_test

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

func TestReemittedRequestsOnTwoReplicasChargeOnce(t *testing.T) {
	h := newHarness(t, map[string]string{"SIM_LATENCY": "20ms"})
	h.Replica(t)
	s := newSaga()
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() { defer wg.Done(); h.reserved(s, 1200) }()
	}
	wg.Wait()
	moatest.Eventually(t, 30*time.Second, func() bool {
		n := 0
		for _, e := range h.events(s) {
			if e.Type == contracts.PaymentSucceededEvent.Type() {
				n++
			}
		}
		return n == 6
	}, "each of the six requests answered with payment_succeeded")
	if records, sum := h.ledger("charge", s); records != 1 || sum != 1200 {
		t.Fatalf("provider ledger has %d charge records (%d), want exactly one of 1200", records, sum)
	}
	ps := h.settledPayments(s, 1)
	if ps[0].Status != contracts.PaymentSucceeded || ps[0].AmountMinor != 1200 {
		t.Fatalf("payment %+v", ps[0])
	}
	// Every answer names the same payment and its seller.
	for _, e := range h.events(s) {
		var d contracts.PaymentData
		if err := json.Unmarshal(e.Data, &d); err != nil || d.PaymentID != ps[0].ID {
			t.Fatalf("event names payment %s (%v), want %s", d.PaymentID, err, ps[0].ID)
		}
		// And its seller: payout credits them without the catalog, which forgets deleted products.
		if d.SellerID != s.seller.UserID {
			t.Fatalf("event names seller %q, want %s", d.SellerID, s.seller.UserID)
		}
	}
}

// Every provider call times out; half were recorded by the provider before the timeout. A
// step the lookup finds is settled as the provider's record says; one it does not find is sent
// again under the same key, so every charge ends SUCCEEDED, and the provider (idempotent per
// key) never holds two.
func TestUnknownOutcomesAreLookedUpThenResentUnderTheSameKey(t *testing.T) {
	h := newHarness(t, map[string]string{"SIM_TIMEOUT_RATE": "1", "SIM_SEED": "7"})
	sagas := make([]saga, 12)
	for i := range sagas {
		sagas[i] = newSaga()
		h.reserved(sagas[i], 500)
	}
	for _, s := range sagas {
		p := h.settledPayments(s, 1)[0]
		records, sum := h.ledger("charge", s)
		if records != 1 || p.Status != contracts.PaymentSucceeded || sum != 500 {
			t.Fatalf("saga %s: payment %s/%s, the provider has %d records (%d); want SUCCEEDED and one of 500",
				s.id, p.Status, p.FailureCode, records, sum)
		}
		h.waitEvent(s, contracts.PaymentSucceededEvent.Type())
	}
}

// A charge that timed out unrecorded lands late. If the saga is cancelled meanwhile, the charge
// is looked up and, not found, voided at the provider: the late request then books nothing.
// If it landed first, it is refunded in full. Either way nothing is kept.
func TestCancelDuringALateChargeKeepsNothing(t *testing.T) {
	h := newHarness(t, map[string]string{"SIM_LATE_RATE": "1", "SIM_LATE_DELAY": "3s"})
	s := newSaga()
	h.reserved(s, 600)
	moatest.Eventually(t, 10*time.Second, func() bool {
		ps := h.payments(s)
		return len(ps) == 1 && ps[0].Status == contracts.PaymentUnknown
	}, "the charge's outcome unknown")
	h.cancel(s, 600)
	d := h.waitEvent(s, contracts.RefundIssuedEvent.Type())
	ps := h.settledPayments(s, 2)
	var charge contracts.Payment
	for _, p := range ps {
		if p.Kind == "charge" {
			charge = p
		}
	}
	// A second saga charged after the cancellation is the clock: it settles only once its own
	// first request has landed, by when every request sent for the first saga (all before
	// the cancellation settled it) has landed or been refused too.
	clock := newSaga()
	h.reserved(clock, 100)
	if p := h.settledPayments(clock, 1)[0]; p.Status != contracts.PaymentSucceeded {
		t.Fatalf("clock saga %+v", p)
	}
	records, charged := h.ledger("charge", s)
	_, refunded := h.ledger("refund", s)
	if records != 1 || charged != refunded || d.AmountMinor != refunded {
		t.Fatalf("charge %s/%s: provider has %d charge records (%d charged), %d refunded, refund_issued says %d",
			charge.Status, charge.FailureCode, records, charged, refunded, d.AmountMinor)
	}
	for _, e := range h.events(s) {
		if e.Type == contracts.PaymentFailedEvent.Type() || e.Type == contracts.PaymentSucceededEvent.Type() {
			t.Fatalf("a charge settled by a cancellation emitted %s", e.Type)
		}
	}
	t.Logf("charge %s/%s, charged %d, refunded %d", charge.Status, charge.FailureCode, charged, refunded)
}

func TestDeclinedChargeFailsThePayment(t *testing.T) {
	h := newHarness(t, map[string]string{"SIM_DECLINE_RATE": "1"})
	s := newSaga()
	h.reserved(s, 800)
	if d := h.waitEvent(s, contracts.PaymentFailedEvent.Type()); d.FailureCode != "declined" || d.AmountMinor != 800 {
		t.Fatalf("payment_failed %+v", d)
	}
	if _, sum := h.ledger("charge", s); sum != 0 {
		t.Fatalf("a declined charge took %d", sum)
	}
}

func TestCancelBeforeChargeVoidsIt(t *testing.T) {
	h := newHarness(t, nil)
	s := newSaga()
	h.cancel(s, 700)
	if d := h.waitEvent(s, contracts.RefundIssuedEvent.Type()); d.AmountMinor != 0 {
		t.Fatalf("refund of a saga never charged: %d", d.AmountMinor)
	}
	h.reserved(s, 700) // late: the cancellation claimed the charge step
	ps := h.settledPayments(s, 2)
	moatest.Eventually(t, 10*time.Second, func() bool {
		var n int
		_ = h.Postgres.QueryRow(ctxT(t, 5*time.Second), `SELECT count(*) FROM moa_inbox WHERE consumer = 'billing_charge'`).Scan(&n)
		return n == 1
	}, "the late seat_reserved handled")
	if records, _ := h.ledger("charge", s); records != 0 {
		t.Fatalf("a cancelled saga was charged (%d records)", records)
	}
	for _, e := range h.events(s) {
		if e.Type != contracts.RefundIssuedEvent.Type() {
			t.Fatalf("unexpected %s for a voided charge", e.Type)
		}
	}
	for _, p := range ps {
		if p.Kind == "charge" && (p.Status != contracts.PaymentFailed || p.FailureCode != "cancelled") {
			t.Fatalf("charge %+v, want FAILED cancelled", p)
		}
	}
}

func TestRefundIsBoundedByTheChargeAndMadeOnce(t *testing.T) {
	h := newHarness(t, nil)
	s := newSaga()
	h.reserved(s, 1000)
	h.waitEvent(s, contracts.PaymentSucceededEvent.Type())
	h.cancel(s, 5000)
	if d := h.waitEvent(s, contracts.RefundIssuedEvent.Type()); d.AmountMinor != 1000 {
		t.Fatalf("refund %d of a 1000 charge", d.AmountMinor)
	}
	h.cancel(s, 5000) // re-emitted by a sweeper
	moatest.Eventually(t, 20*time.Second, func() bool {
		n := 0
		for _, e := range h.events(s) {
			if e.Type == contracts.RefundIssuedEvent.Type() {
				n++
			}
		}
		return n == 2
	}, "the re-emitted cancellation answered again")
	if records, sum := h.ledger("refund", s); records != 1 || sum != 1000 {
		t.Fatalf("provider ledger: %d refunds (%d), want one of 1000", records, sum)
	}
}

// A crash after the provider was called but before the result was recorded leaves the step
// PENDING with an attempt counted: the next delivery looks it up, and sends it again under the
// same key only when the provider has no record of it.
func TestCrashAfterTheProviderCallIsResolvedByLookup(t *testing.T) {
	h := newHarness(t, nil)
	charged, lost := newSaga(), newSaga()
	ctx := ctxT(t, 10*time.Second)
	for _, s := range []saga{charged, lost} {
		if _, err := h.Postgres.Exec(ctx, `INSERT INTO payments (id, subscription_id, step, product_id, consumer_id, seller_id,
			amount_minor, currency, status, attempts, created_at, updated_at)
			VALUES (gen_random_uuid(), $1, 'charge', $2, $3, $4, 900, 'KRW', 'PENDING', 1, now(), now())`,
			s.id, s.product, s.consumer.UserID, s.seller.UserID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Postgres.Exec(ctx, `INSERT INTO sim_provider_ledger (idempotency_key, kind, amount_minor, currency, succeeded, ref)
		VALUES ($1, 'charge', 900, 'KRW', true, 'sim_before_crash')`, "charge:"+charged.id); err != nil {
		t.Fatal(err)
	}
	h.reserved(charged, 900)
	h.reserved(lost, 900)
	if p := h.settledPayments(charged, 1)[0]; p.Status != contracts.PaymentSucceeded || p.ProviderRef != "sim_before_crash" {
		t.Fatalf("charge recorded by the provider before the crash: %+v", p)
	}
	// The provider never saw it: it is sent again under its key.
	if p := h.settledPayments(lost, 1)[0]; p.Status != contracts.PaymentSucceeded {
		t.Fatalf("charge the provider never saw: %+v, want sent again and SUCCEEDED", p)
	}
	for _, s := range []saga{charged, lost} {
		if records, _ := h.ledger("charge", s); records > 1 {
			t.Fatalf("charge sent again after the crash (%d records)", records)
		}
	}
}

func TestPaymentsEndpointChecksTheCaller(t *testing.T) {
	h := newHarness(t, nil)
	s := newSaga()
	h.reserved(s, 300)
	h.settledPayments(s, 1)
	if l, err := h.bill.Payments(h.As(ctxT(t, 10*time.Second), s.seller), s.id); err != nil || len(l.Items) != 1 {
		t.Fatalf("the seller's view: %+v %v", l, err)
	}
	_, err := h.bill.Payments(h.As(ctxT(t, 10*time.Second), authntest.Consumer()), s.id)
	if !errors.Is(err, contracts.ErrNotFound) {
		t.Fatalf("a stranger: %v, want not_found", err)
	}
	_, err = h.bill.Payments(ctxT(t, 10*time.Second), s.id)
	if !errors.Is(err, contracts.ErrUnauthenticated) {
		t.Fatalf("no token: %v, want unauthenticated", err)
	}
	_, err = h.bill.Payments(h.As(ctxT(t, 10*time.Second), s.consumer), "a.b")
	var ce *contracts.Error
	if !errors.As(err, &ce) || ce.Code != contracts.ErrValidation.Code || ce.Field != "subscription_id" {
		t.Fatalf("bad id: %v, want validation_failed on subscription_id", err)
	}
}
