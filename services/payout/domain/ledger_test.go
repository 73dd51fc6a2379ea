package domain

import (
	"testing"
	"time"
)

// A duplicate of a remembered entry does not move the balance, whether it is decided again
// (the decision returns nothing) or folded again (a store holding it twice).
func TestLedgerCountsAnEntryOnce(t *testing.T) {
	l := NewLedger("s", 3)
	now := time.Now()
	e := l.Credit("ev-1", "pay-1", "KRW", 1_000, 1000, now)
	l.Apply(*e, 1)
	if again := l.Credit("ev-1", "pay-1", "KRW", 1_000, 1000, now); again != nil {
		t.Fatalf("the same payment decided twice: %+v", again)
	}
	// Billing re-emits a settled payment under a new event id: the payment is the cause.
	if again := l.Credit("ev-1-reemitted", "pay-1", "KRW", 1_000, 1000, now); again != nil {
		t.Fatalf("the same payment under a new event id decided twice: %+v", again)
	}
	l.Apply(*e, 2)
	if l.Balances["KRW"] != 900 || l.Events != 1 || l.Seq != 2 {
		t.Fatalf("ledger %+v, want 900 once, at sequence 2", l)
	}
	// The memory is bounded: past the window, the oldest id is forgotten (the stream's
	// duplicate window is the other layer).
	for i, pay := range []string{"pay-2", "pay-3", "pay-4"} {
		l.Apply(*l.Refund("ev-"+pay, pay, "KRW", 1, now), uint64(3+i))
	}
	if l.Has(e.ID) || len(l.Seen) != 3 {
		t.Fatalf("window of 3 still holds the oldest entry: %v", l.Seen)
	}
}

// A payout reserves its amount; settling it paid keeps it spent, reversed gives it back; a
// settled payout cannot be settled again.
func TestPayoutReservesAndReversalCompensates(t *testing.T) {
	l := NewLedger("s", 0)
	now := time.Now()
	l.Apply(*l.Credit("ev", "p", "KRW", 10_000, 0, now), 1)
	if _, err := l.RequestPayout("po-0", "KRW", 20_000, now); err == nil {
		t.Fatal("a payout above the balance was decided")
	}
	for i, id := range []string{"po-1", "po-2"} {
		e, err := l.RequestPayout(id, "KRW", 3_000, now)
		if err != nil {
			t.Fatal(err)
		}
		l.Apply(e, uint64(2+i))
	}
	if l.Balances["KRW"] != 4_000 || len(l.Pending) != 2 {
		t.Fatalf("after two reservations: %+v", l)
	}
	l.Apply(*l.Settle("po-1", true, "ref", "", now), 4)
	l.Apply(*l.Settle("po-2", false, "", "account_closed", now), 5)
	if l.Balances["KRW"] != 7_000 || len(l.Pending) != 0 {
		t.Fatalf("after paid + reversed: %+v, want 10000 − 3000", l)
	}
	if e := l.Settle("po-2", true, "ref", "", now); e != nil {
		t.Fatalf("a settled payout settled again: %+v", e)
	}
}

func TestFeeRoundsDown(t *testing.T) {
	for _, c := range []struct {
		gross int64
		bps   int
		want  int64
	}{{10_000, 1000, 1_000}, {999, 1000, 99}, {1, 750, 0}, {5_000, 0, 0}} {
		if got := Fee(c.gross, c.bps); got != c.want {
			t.Errorf("Fee(%d, %d) = %d, want %d", c.gross, c.bps, got, c.want)
		}
	}
}
