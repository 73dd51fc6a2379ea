package payout_test

import (
	"errors"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// Payments credit the seller less the fee, refunds take the whole payment back, and a
// duplicate (the same billing event again, past the stream's duplicate window) does nothing.
func TestBillingEventsMoveTheBalanceOnce(t *testing.T) {
	f := start(t, map[string]string{"FEE_BPS": "1000"})
	seller := authntest.Seller()
	product := f.product(seller.UserID)

	paid := f.billing(contracts.PaymentSucceededEvent, product, 10_000)
	f.billing(contracts.PaymentSucceededEvent, product, 5_000)
	refund := f.billing(contracts.RefundIssuedEvent, product, 2_000)
	f.republish(paid)
	f.republish(refund)
	f.republish(paid)
	f.waitBilling()

	// 10 000 + 5 000 − 10% − 2 000, each event once.
	if bal, _ := f.balance(seller); bal != 11_500 {
		t.Fatalf("balance = %d, want 11500", bal)
	}
	// Another seller sees their own (empty) ledger only.
	if bal, _ := f.balance(authntest.Seller()); bal != 0 {
		t.Fatalf("another seller's balance = %d, want 0", bal)
	}
}

// A payout on request pays the balance; one the bank rejects is reversed, the amount back on
// the balance; the history shows both, newest first, in keyset pages.
func TestPayoutPaidAndReversed(t *testing.T) {
	f := start(t, nil)
	seller, closed := authntest.Seller(), authntest.Seller()
	f.bank.SetClosed(closed.UserID, true)
	f.billing(contracts.PaymentSucceededEvent, f.product(seller.UserID), 10_000)
	f.billing(contracts.PaymentSucceededEvent, f.product(closed.UserID), 10_000)
	f.waitBilling()

	ctx := f.As(ctxT(t), seller)
	var ids []string
	for _, amount := range []int64{1_000, 2_000, 0} { // 0: the rest
		p, err := bus.Call(ctx, f.Runtime.Client(), contracts.PayoutRequestPayout, contracts.RequestPayoutRequest{Currency: "KRW", AmountMinor: amount})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != contracts.PayoutPaid || p.BankRef == "" {
			t.Fatalf("payout %+v, want PAID with a bank reference", p)
		}
		ids = append(ids, p.ID)
	}
	if bal, pending := f.balance(seller); bal != 0 || pending != 0 {
		t.Fatalf("after paying out everything: balance %d, pending %d", bal, pending)
	}
	_, err := bus.Call(ctx, f.Runtime.Client(), contracts.PayoutRequestPayout, contracts.RequestPayoutRequest{Currency: "KRW"})
	moatest.WantError(t, err, contracts.ErrConflict, "")

	rej, err := bus.Call(f.As(ctxT(t), closed), f.Runtime.Client(), contracts.PayoutRequestPayout, contracts.RequestPayoutRequest{Currency: "KRW"})
	if err != nil {
		t.Fatal(err)
	}
	if rej.Status != contracts.PayoutReversed || rej.Reason == "" {
		t.Fatalf("rejected payout %+v, want REVERSED with a reason", rej)
	}
	if bal, _ := f.balance(closed); bal != 9_000 {
		t.Fatalf("balance after the reversal = %d, want 9000 back", bal)
	}

	f.waitHistory()
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		page, err := bus.Call(ctx, f.Runtime.Client(), contracts.PayoutHistory, contracts.PayoutHistoryRequest{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Items {
			if p.Status != contracts.PayoutPaid {
				t.Errorf("history %+v, want PAID", p)
			}
			got = append(got, p.ID)
		}
		if cursor = page.NextCursor; cursor == "" {
			if pages != 1 {
				t.Errorf("%d pages of 2 for 3 payouts", pages+1)
			}
			break
		}
	}
	if len(got) != 3 || got[0] != ids[2] || got[1] != ids[1] || got[2] != ids[0] {
		t.Fatalf("history %v, want %v newest first", got, ids)
	}
	page, err := bus.Call(f.As(ctxT(t), closed), f.Runtime.Client(), contracts.PayoutHistory, contracts.PayoutHistoryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].Status != contracts.PayoutReversed {
		t.Fatalf("closed seller's history %+v, want one REVERSED payout", page.Items)
	}
}

// Bad input is the caller's validation error; consumers and others may not call.
func TestRequestValidationAndAccess(t *testing.T) {
	f := start(t, nil)
	ctx := f.As(ctxT(t), authntest.Seller())
	_, err := bus.Call(ctx, f.Runtime.Client(), contracts.PayoutRequestPayout, contracts.RequestPayoutRequest{Currency: "krw.>"})
	moatest.WantError(t, err, contracts.ErrValidation, "currency")
	_, err = bus.Call(ctx, f.Runtime.Client(), contracts.PayoutHistory, contracts.PayoutHistoryRequest{Cursor: "not-a-cursor"})
	moatest.WantError(t, err, contracts.ErrValidation, "cursor")
	_, err = bus.Call(f.As(ctxT(t), authntest.Consumer()), f.Runtime.Client(), contracts.PayoutGetBalance, contracts.Empty{})
	var ce *contracts.Error
	if !errors.As(err, &ce) || !errors.Is(err, contracts.ErrForbidden) {
		t.Fatalf("a consumer reading a balance: %v, want forbidden", err)
	}
}

// The schedule pays every balance above the minimum out, with no request.
func TestSchedulePaysOut(t *testing.T) {
	f := start(t, map[string]string{"SCHEDULE_INTERVAL": "100ms", "MIN_PAYOUT": "5000"})
	rich, poor := authntest.Seller(), authntest.Seller()
	f.billing(contracts.PaymentSucceededEvent, f.product(rich.UserID), 10_000)
	f.billing(contracts.PaymentSucceededEvent, f.product(poor.UserID), 1_000)
	f.waitBilling()
	moatest.WaitFor(t, 30*time.Second, func() error {
		f.waitHistory()
		page, err := bus.Call(f.As(ctxT(t), rich), f.Runtime.Client(), contracts.PayoutHistory, contracts.PayoutHistoryRequest{})
		if err != nil {
			return err
		}
		if len(page.Items) != 1 || page.Items[0].Status != contracts.PayoutPaid || page.Items[0].AmountMinor != 9_000 {
			return errors.New("no scheduled payout yet")
		}
		return nil
	})
	if bal, _ := f.balance(rich); bal != 0 {
		t.Fatalf("balance after the scheduled payout = %d", bal)
	}
	if bal, _ := f.balance(poor); bal != 900 {
		t.Fatalf("a balance under the minimum was touched: %d", bal)
	}
}

// A payout the bank does not answer stays pending, its amount reserved; the schedule sends it
// again under the same payout id once the bank is back, and it is paid once.
func TestPendingPayoutIsRetriedBySchedule(t *testing.T) {
	f := start(t, map[string]string{"SCHEDULE_INTERVAL": "100ms", "RETRY_AFTER": "1ms", "MIN_PAYOUT": "1000000000"})
	seller := authntest.Seller()
	f.billing(contracts.PaymentSucceededEvent, f.product(seller.UserID), 10_000)
	f.waitBilling()

	f.bank.Outage.Store(true)
	p, err := bus.Call(f.As(ctxT(t), seller), f.Runtime.Client(), contracts.PayoutRequestPayout, contracts.RequestPayoutRequest{Currency: "KRW"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != contracts.PayoutPending {
		t.Fatalf("payout during a bank outage: %+v, want PENDING", p)
	}
	if bal, pending := f.balance(seller); bal != 0 || pending != 9_000 {
		t.Fatalf("during the outage: balance %d, pending %d; want 0 and 9000 reserved", bal, pending)
	}
	f.bank.Outage.Store(false)
	moatest.WaitFor(t, 30*time.Second, func() error {
		if _, pending := f.balance(seller); pending != 0 {
			return errors.New("still pending")
		}
		return nil
	})
	f.waitHistory()
	page, err := bus.Call(f.As(ctxT(t), seller), f.Runtime.Client(), contracts.PayoutHistory, contracts.PayoutHistoryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].ID != p.ID || page.Items[0].Status != contracts.PayoutPaid {
		t.Fatalf("history %+v, want payout %s PAID once", page.Items, p.ID)
	}
	if bal, _ := f.balance(seller); bal != 0 {
		t.Fatalf("balance after the retried payout = %d", bal)
	}
}

// The history is a projection: wiped, it comes back whole from the ledger by replay (the
// operator's rebuild_history), and sellers may not call the rebuild.
func TestHistoryRebuildsByReplay(t *testing.T) {
	f := start(t, nil)
	seller := authntest.Seller()
	f.bank.SetClosed(seller.UserID, true)
	f.billing(contracts.PaymentSucceededEvent, f.product(seller.UserID), 10_000)
	f.waitBilling()
	ctx := f.As(ctxT(t), seller)
	if _, err := bus.Call(ctx, f.Runtime.Client(), contracts.PayoutRequestPayout, contracts.RequestPayoutRequest{Currency: "KRW", AmountMinor: 4_000}); err != nil {
		t.Fatal(err)
	}
	f.bank.SetClosed(seller.UserID, false)
	if _, err := bus.Call(ctx, f.Runtime.Client(), contracts.PayoutRequestPayout, contracts.RequestPayoutRequest{Currency: "KRW", AmountMinor: 1_000}); err != nil {
		t.Fatal(err)
	}
	f.waitHistory()
	history := func() []contracts.Payout {
		page, err := bus.Call(ctx, f.Runtime.Client(), contracts.PayoutHistory, contracts.PayoutHistoryRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return page.Items
	}
	before := history()
	if len(before) != 2 {
		t.Fatalf("history %+v, want 2 payouts", before)
	}
	if _, err := f.Postgres.Exec(ctxT(t), `DELETE FROM payout_history; UPDATE payout_balances SET amount_minor = 0`); err != nil {
		t.Fatal(err)
	}
	_, err := bus.Call(ctx, f.Runtime.Client(), contracts.PayoutRebuildHistory, contracts.Empty{})
	moatest.WantError(t, err, contracts.ErrForbidden, "")

	res, err := bus.Call(f.As(ctxT(t), authntest.Operator()), f.Runtime.Client(), contracts.PayoutRebuildHistory, contracts.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	// credited, requested + reversed, requested + paid.
	if res.Entries != 5 || res.Payouts != 2 {
		t.Fatalf("rebuild %+v, want 5 entries and 2 payouts", res)
	}
	after := history()
	if len(after) != 2 || after[0].ID != before[0].ID || after[0].Status != contracts.PayoutPaid ||
		after[1].ID != before[1].ID || after[1].Status != contracts.PayoutReversed {
		t.Fatalf("rebuilt history %+v, want %+v", after, before)
	}
	var projected int64
	if err := f.Postgres.QueryRow(ctxT(t), `SELECT amount_minor FROM payout_balances WHERE seller_id = $1`, seller.UserID).Scan(&projected); err != nil {
		t.Fatal(err)
	}
	if projected != 8_000 {
		t.Fatalf("rebuilt balance %d, want 9000 − 1000", projected)
	}
}
