package sagasuite

import (
	"errors"
	"testing"
	"time"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

func TestSubscribeChargesAndActivates(t *testing.T) {
	s := newStack(t, fastSettings())
	seller, consumer := authntest.Seller(), authntest.Consumer()
	p := s.product(seller, 2, 5900)
	sub := s.subscribe(consumer, p.ID)
	if sub.PriceMinor != 5900 || sub.SellerID != seller.UserID || sub.ConsumerID != consumer.UserID {
		t.Fatalf("snapshot %+v", sub)
	}
	got := s.settle(consumer, sub.ID, contracts.SubActive)
	if got.ActiveUntil == nil || got.ActiveUntil.Before(time.Now().AddDate(0, 0, 27)) {
		t.Fatalf("active_until %v, want about a month ahead", got.ActiveUntil)
	}
	if n := s.seatsTaken(p.ID); n != 1 {
		t.Fatalf("seats_taken %d, want 1", n)
	}
	if n, sum := s.ledger("charge", sub.ID); n != 1 || sum != 5900 {
		t.Fatalf("provider ledger: %d charges of %d in all, want one of 5900", n, sum)
	}
	pays, err := s.bill.Payments(s.as(consumer), sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(pays.Items) != 1 || pays.Items[0].Kind != "charge" || pays.Items[0].Status != contracts.PaymentSucceeded || pays.Items[0].AmountMinor != 5900 {
		t.Fatalf("payments %+v", pays.Items)
	}
	if _, err := s.bill.Payments(s.as(authntest.Consumer()), sub.ID); !errors.Is(err, contracts.ErrNotFound) {
		t.Fatalf("another consumer's payments: %v, want not_found", err)
	}
	moatest.WaitFor(t, 20*time.Second, func() error {
		d, err := s.sub.Dashboard(s.as(seller))
		if err != nil {
			return err
		}
		if len(d.Items) != 1 || d.Items[0].ActiveSubscribers != 1 || d.Items[0].RevenueMinor != 5900 || d.Items[0].Currency != "KRW" {
			return errors.New("dashboard not there yet")
		}
		return nil
	})
	subs, err := s.sub.Subscribers(s.as(seller), p.ID)
	if err != nil || len(subs.ConsumerIDs) != 1 || subs.ConsumerIDs[0] != consumer.UserID {
		t.Fatalf("subscribers %+v, %v", subs, err)
	}
	// Exactly one terminal event for the saga so far.
	if evs := streamEvents(t, s.rt.JetStream(), contracts.StreamSubscription.Name, contracts.SubscriptionActivated.Subject(sub.ID)); len(evs) != 1 {
		t.Fatalf("%d activated events, want 1", len(evs))
	}
}

func TestDeclinedPaymentReleasesTheSeat(t *testing.T) {
	set := fastSettings()
	set["billing"]["SIM_DECLINE_RATE"] = "1"
	s := newStack(t, set)
	seller, consumer := authntest.Seller(), authntest.Consumer()
	p := s.product(seller, 1, 1000)
	sub := s.subscribe(consumer, p.ID)
	got := s.settle(consumer, sub.ID, contracts.SubCancelled)
	if got.Reason != "payment_failed" {
		t.Fatalf("reason %q, want payment_failed", got.Reason)
	}
	moatest.Eventually(t, 20*time.Second, func() bool { return s.seatsTaken(p.ID) == 0 }, "the seat released")
	if n, _ := s.ledger("charge", sub.ID); n != 0 {
		t.Fatalf("%d successful charges for a declined payment", n)
	}
	// The seat is free again for the next consumer; a declined consumer may try again too.
	again := s.subscribe(consumer, p.ID)
	if again.ID == sub.ID {
		t.Fatal("a new subscribe after a cancelled one returned the old subscription")
	}
}

func TestSoldOutChargesNothing(t *testing.T) {
	s := newStack(t, fastSettings())
	seller := authntest.Seller()
	p := s.product(seller, 1, 700)
	first, second := authntest.Consumer(), authntest.Consumer()
	a := s.subscribe(first, p.ID)
	s.settle(first, a.ID, contracts.SubActive)
	b := s.subscribe(second, p.ID)
	got := s.settle(second, b.ID, contracts.SubCancelled)
	if got.Reason != "seat_unavailable" {
		t.Fatalf("reason %q, want seat_unavailable", got.Reason)
	}
	if n, _ := s.ledger("charge", b.ID); n != 0 {
		t.Fatalf("sold-out saga charged %d times", n)
	}
	pays, err := s.bill.Payments(s.as(second), b.ID)
	if err != nil || len(pays.Items) != 0 {
		t.Fatalf("sold-out saga has payments %+v (%v)", pays.Items, err)
	}
	if n := s.seatsTaken(p.ID); n != 1 {
		t.Fatalf("seats_taken %d, want 1", n)
	}
}

func TestCancelRefundsProRataAndReleasesTheSeat(t *testing.T) {
	s := newStack(t, fastSettings())
	seller, consumer := authntest.Seller(), authntest.Consumer()
	p := s.product(seller, 3, 30000)
	sub := s.subscribe(consumer, p.ID)
	s.settle(consumer, sub.ID, contracts.SubActive)
	c, err := s.sub.Cancel(s.as(consumer), sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != contracts.SubCancelling || c.RefundMinor <= 0 || c.RefundMinor > 30000 {
		t.Fatalf("cancel returned %s with refund %d", c.State, c.RefundMinor)
	}
	if _, err := s.sub.Cancel(s.as(consumer), sub.ID); err != nil {
		t.Fatalf("second cancel: %v", err)
	}
	got := s.settle(consumer, sub.ID, contracts.SubCancelled)
	if got.Reason != "by_consumer" || got.RefundMinor != c.RefundMinor {
		t.Fatalf("cancelled %q with refund %d, want by_consumer and %d", got.Reason, got.RefundMinor, c.RefundMinor)
	}
	moatest.Eventually(t, 20*time.Second, func() bool { return s.seatsTaken(p.ID) == 0 }, "the seat released")
	nr, refunded := s.ledger("refund", sub.ID)
	if nc, charged := s.ledger("charge", sub.ID); nc != 1 || nr != 1 || refunded != c.RefundMinor || refunded > charged {
		t.Fatalf("ledger: %d charges (%d), %d refunds (%d)", nc, charged, nr, refunded)
	}
	moatest.WaitFor(t, 20*time.Second, func() error {
		d, err := s.sub.Dashboard(s.as(seller))
		if err != nil {
			return err
		}
		if len(d.Items) != 1 || d.Items[0].ActiveSubscribers != 0 || d.Items[0].Churned != 1 || d.Items[0].RevenueMinor != 30000-c.RefundMinor {
			return errors.New("dashboard not there yet")
		}
		return nil
	})
	// A cancelled subscription cannot be cancelled into anything else.
	other := authntest.Consumer()
	if _, err := s.sub.Cancel(s.as(other), sub.ID); !errors.Is(err, contracts.ErrNotFound) {
		t.Fatalf("someone else's cancel: %v, want not_found", err)
	}
}
