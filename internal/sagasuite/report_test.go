package sagasuite

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
)

func (c *faultCounts) report(t *testing.T, faults []string, faultsEnd time.Time, convergedIn time.Duration) {
	var b strings.Builder
	fmt.Fprintf(&b, "fault suite: %d sagas at %d/s, decline rate %s, late-landing rate %s (after %s), %d poison\n",
		faultSagas, faultRate, faultDeclineRate, faultLateRate, faultLateDelay, faultPoison)
	for _, f := range faults {
		fmt.Fprintf(&b, "  fault %s\n", f)
	}
	fmt.Fprintf(&b, "  injected: %d duplicates, %d late events, %d poison\n", c.dups, c.late, c.poison)
	fmt.Fprintf(&b, "  converged %.1fs after the faults stopped (limit %s); last saga state change %+.1fs from then\n",
		convergedIn.Seconds(), faultConverge, c.lastChange.Sub(faultsEnd).Seconds())
	fmt.Fprintf(&b, "sagas: %d started, %d recorded (%d client calls), terminal: ACTIVE %d, CANCELLED %d %v; in progress: %d\n",
		c.started, c.recorded, c.tries, c.byState[contracts.SubActive], c.byState[contracts.SubCancelled], c.byReason,
		c.byState[contracts.SubPending]+c.byState[contracts.SubCancelling])
	fmt.Fprintf(&b, "charges: %d successful, %d declined; max successful charges per saga %d; max provider calls per saga charge %d; unsettled payment steps %d\n",
		c.charges, c.declined, c.maxCharges, c.maxChargeRecords, c.unsettledPayments)
	fmt.Fprintf(&b, "refunds: %d; sagas refunded more than charged: %d\n", c.refunds, len(c.refundOverCharge))
	fmt.Fprintf(&b, "charged at provider without ACTIVE is refunded: %d sagas charged but not ACTIVE, %d violations\n",
		c.chargedNotActive, len(c.chargedNotRefunded))
	fmt.Fprintf(&b, "seats taken: %d; active subscriptions: %d; products where they differ: %d\n", c.seatsTaken, c.active, len(c.seatMismatch))
	fmt.Fprintf(&b, "terminal events: activated %d, cancelled %d; sagas without exactly one per terminal state: %d\n",
		c.activated, c.cancelled, c.terminalWrong)
	fmt.Fprintf(&b, "notifications (notify): %d stored; sagas without exactly one per terminal state per party (consumer, seller): %d\n",
		c.notifications, c.notifyWrong)
	fmt.Fprintf(&b, "dead letters: %d; poison: %d\n", c.deadLetters, c.poison)
	for _, s := range c.deadLetterSubjects {
		fmt.Fprintf(&b, "  dead letter: %s\n", s)
	}
	t.Log("\n" + b.String())
}

func (c *faultCounts) check(t *testing.T) {
	t.Helper()
	if c.recorded != faultSagas || c.byState[contracts.SubActive]+c.byState[contracts.SubCancelled] != faultSagas {
		t.Errorf("not every saga terminal: %d recorded, %v", c.recorded, c.byState)
	}
	if c.maxCharges > 1 || c.maxChargeRecords > 1 {
		t.Errorf("a saga was charged more than once (max %d successful, %d provider calls)", c.maxCharges, c.maxChargeRecords)
	}
	if len(c.refundOverCharge) > 0 {
		t.Errorf("refunds exceed charges for %v", c.refundOverCharge)
	}
	if len(c.chargedNotRefunded) > 0 {
		t.Errorf("charged at the provider without ACTIVE and not refunded: %v", c.chargedNotRefunded)
	}
	if c.seatsTaken != c.active || len(c.seatMismatch) > 0 {
		t.Errorf("seats taken %d != active subscriptions %d: %v", c.seatsTaken, c.active, c.seatMismatch)
	}
	if c.terminalWrong > 0 {
		t.Errorf("%d sagas without exactly one terminal event per terminal state", c.terminalWrong)
	}
	if c.notifyWrong > 0 {
		t.Errorf("%d sagas without exactly one notification per terminal state per party", c.notifyWrong)
	}
	if c.deadLetters != uint64(c.poison) || c.poison != faultPoison {
		t.Errorf("dead letters %d, poison %d (want %d)", c.deadLetters, c.poison, faultPoison)
	}
	if c.unsettledPayments > 0 {
		t.Errorf("%d payment steps not settled", c.unsettledPayments)
	}
	for id, f := range c.sagas {
		switch {
		case f.state == "":
			t.Errorf("saga %s has payments but no subscription", id)
		case f.state == contracts.SubActive && (f.charges != 1 || f.refunded != 0):
			t.Errorf("active saga %s: %d charges, %d refunded", id, f.charges, f.refunded)
		case f.state == contracts.SubCancelled && (f.reason == "seat_unavailable" || f.reason == "payment_failed") && f.charges != 0:
			t.Errorf("saga %s cancelled (%s) but charged", id, f.reason)
		case f.state == contracts.SubCancelled && f.reason == "timed_out" && f.refunded != f.charged:
			t.Errorf("timed-out saga %s: charged %d, refunded %d", id, f.charged, f.refunded)
		}
	}
}
