package sagasuite

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// Every provider call times out unrecorded and lands two seconds later: a lookup right after
// the timeout finds nothing although the charge is on its way. Billing must not give the
// charge up (the customer would be charged with no subscription and no refund): it sends it
// again under the same key, the provider books the key once, and the saga ends ACTIVE with
// exactly one charge.
func TestLateLandingChargeIsNeverOrphaned(t *testing.T) {
	set := fastSettings()
	set["billing"] = map[string]string{"SIM_LATE_RATE": "1", "SIM_LATE_DELAY": "2s"}
	s := newStack(t, set)
	seller, consumer := authntest.Seller(), authntest.Consumer()
	p := s.product(seller, 1, 2500)
	sub := s.subscribe(consumer, p.ID)

	var charge contracts.Payment
	moatest.WaitFor(t, 30*time.Second, func() error {
		pays, err := s.bill.Payments(s.as(consumer), sub.ID)
		if err != nil {
			return err
		}
		for _, pay := range pays.Items {
			if pay.Kind == "charge" && (pay.Status == contracts.PaymentSucceeded || pay.Status == contracts.PaymentFailed) {
				charge = pay
				return nil
			}
		}
		return errors.New("charge not settled yet")
	})
	if charge.Status != contracts.PaymentSucceeded {
		t.Fatalf("payment %s/%s, want SUCCEEDED (the provider lands it late)", charge.Status, charge.FailureCode)
	}
	got := s.settle(consumer, sub.ID, contracts.SubActive)
	s.quiet()
	n, sum := s.ledger("charge", sub.ID)
	if n != 1 || sum != 2500 || charge.AmountMinor != 2500 {
		t.Fatalf("provider ledger: %d charges (%d), billing says %d; want one of 2500", n, sum, charge.AmountMinor)
	}
	if err := chargedMeansActiveOrRefunded(s, got, sum); err != nil {
		t.Fatal(err)
	}
	if s.seatsTaken(p.ID) != 1 {
		t.Fatalf("seats_taken %d, want 1", s.seatsTaken(p.ID))
	}
	if v := s.metric("subscription", "moa_saga_illegal_transitions_total"); v != 0 {
		t.Fatalf("moa_saga_illegal_transitions_total %v", v)
	}
}

// chargedMeansActiveOrRefunded is the invariant the late landing broke: money the provider
// took for a saga that is not ACTIVE has been given back.
func chargedMeansActiveOrRefunded(s *stack, sub contracts.Subscription, charged int64) error {
	if charged == 0 || sub.State == contracts.SubActive {
		return nil
	}
	if _, refunded := s.ledger("refund", sub.ID); refunded == 0 {
		return fmt.Errorf("saga %s is %s (%s) but the provider took %d and refunded nothing", sub.ID, sub.State, sub.Reason, charged)
	}
	return nil
}
