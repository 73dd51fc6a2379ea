package domain

import (
	"errors"
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func sub(state State, mod ...func(*Subscription)) Subscription {
	s := Subscription{ID: "s1", ProductID: "p1", ConsumerID: "c1", SellerID: "v1", State: state,
		PriceMinor: 3000, Currency: "KRW", Period: contracts.BillingMonthly, CreatedAt: t0, UpdatedAt: t0}
	for _, m := range mod {
		m(&s)
	}
	return s
}

func active(s *Subscription) {
	from, until := t0, PeriodEnd(t0, s.Period)
	s.ActivatedAt, s.ActiveUntil, s.ChargedMinor, s.WasActive = &from, &until, 3000, true
}

func TestApplyLegalTransitions(t *testing.T) {
	mid := t0.Add(time.Duration(float64(PeriodEnd(t0, contracts.BillingMonthly).Sub(t0)) * 0.25))
	cases := []struct {
		name   string
		from   Subscription
		in     Input
		state  State
		reason string
		emit   Emit
		check  func(t *testing.T, n Subscription)
	}{
		{"seat unavailable cancels", sub(Pending), Input{Trigger: OnSeatUnavailable, At: t0}, Cancelled, ReasonSeatUnavailable, EmitCancelled, nil},
		{"payment succeeded activates", sub(Pending), Input{Trigger: OnPaymentSucceeded, At: t0, AmountMinor: 3000}, Active, "", EmitActivated,
			func(t *testing.T, n Subscription) {
				if !n.WasActive || n.ChargedMinor != 3000 || n.ActiveUntil == nil || !n.ActiveUntil.Equal(t0.AddDate(0, 1, 0)) {
					t.Fatalf("activation fields wrong: %+v", n)
				}
			}},
		{"payment failed waits for the seat", sub(Pending), Input{Trigger: OnPaymentFailed, At: t0}, Cancelling, ReasonPaymentFailed, EmitNone,
			func(t *testing.T, n Subscription) {
				if !n.RefundDone || n.SeatReleased || n.RefundMinor != 0 {
					t.Fatalf("payment_failed fields wrong: %+v", n)
				}
			}},
		{"seat released before payment failed is recorded", sub(Pending), Input{Trigger: OnSeatReleased, At: t0}, Pending, "", EmitNone,
			func(t *testing.T, n Subscription) {
				if !n.SeatReleased {
					t.Fatalf("seat release not recorded: %+v", n)
				}
			}},
		{"payment failed after the seat release cancels", sub(Pending, func(s *Subscription) { s.SeatReleased = true }),
			Input{Trigger: OnPaymentFailed, At: t0}, Cancelled, ReasonPaymentFailed, EmitCancelled, nil},
		{"seat release completes a failed payment", sub(Cancelling, func(s *Subscription) { s.RefundDone, s.Reason = true, ReasonPaymentFailed }),
			Input{Trigger: OnSeatReleased, At: t0}, Cancelled, ReasonPaymentFailed, EmitCancelled, nil},
		{"timeout asks for the whole price back", sub(Pending, func(s *Subscription) { s.Nudges = 4 }), Input{Trigger: OnTimeout, At: t0}, Cancelling, ReasonTimedOut, EmitCancelRequested,
			func(t *testing.T, n Subscription) {
				if n.RefundMinor != 3000 || n.Nudges != 0 || n.WasActive {
					t.Fatalf("timeout fields wrong: %+v", n)
				}
			}},
		{"consumer cancel refunds pro rata", sub(Active, active), Input{Trigger: OnCancel, At: mid}, Cancelling, ReasonByConsumer, EmitCancelRequested,
			func(t *testing.T, n Subscription) {
				if n.RefundMinor != 2250 {
					t.Fatalf("refund %d, want 2250 (three quarters of 3000)", n.RefundMinor)
				}
			}},
		{"refund first waits for the seat", sub(Cancelling, active), Input{Trigger: OnRefundIssued, At: t0, AmountMinor: 100}, Cancelling, "", EmitNone,
			func(t *testing.T, n Subscription) {
				if !n.RefundDone || n.RefundMinor != 100 {
					t.Fatalf("refund not recorded: %+v", n)
				}
			}},
		{"seat first waits for the refund", sub(Cancelling), Input{Trigger: OnSeatReleased, At: t0}, Cancelling, "", EmitNone, nil},
		{"refund after seat completes", sub(Cancelling, func(s *Subscription) { s.SeatReleased, s.Reason = true, ReasonByConsumer }),
			Input{Trigger: OnRefundIssued, At: t0, AmountMinor: 7}, Cancelled, ReasonByConsumer, EmitCancelled, nil},
		{"seat after refund completes", sub(Cancelling, func(s *Subscription) { s.RefundDone, s.Reason = true, ReasonTimedOut }),
			Input{Trigger: OnSeatReleased, At: t0}, Cancelled, ReasonTimedOut, EmitCancelled, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := Apply(c.from, c.in)
			if err != nil {
				t.Fatal(err)
			}
			if out.Next.State != c.state || out.Next.Reason != c.reason || out.Emit != c.emit {
				t.Fatalf("got %s/%q/emit %d, want %s/%q/emit %d", out.Next.State, out.Next.Reason, out.Emit, c.state, c.reason, c.emit)
			}
			if c.check != nil {
				c.check(t, out.Next)
			}
		})
	}
}

func TestApplyRejectsIllegalTransitions(t *testing.T) {
	all := []Trigger{OnSeatUnavailable, OnPaymentSucceeded, OnPaymentFailed, OnRefundIssued, OnSeatReleased, OnCancel, OnTimeout}
	legal := map[State]map[Trigger]bool{
		Pending:    {OnSeatUnavailable: true, OnPaymentSucceeded: true, OnPaymentFailed: true, OnSeatReleased: true, OnTimeout: true},
		Active:     {OnCancel: true},
		Cancelling: {OnRefundIssued: true, OnSeatReleased: true},
		Cancelled:  {},
	}
	n := 0
	for state, ok := range legal {
		for _, tr := range all {
			if ok[tr] {
				continue
			}
			s := sub(state)
			out, err := Apply(s, Input{Trigger: tr, At: t0.Add(time.Hour), AmountMinor: 1})
			if !errors.Is(err, contracts.ErrIllegalTransition) {
				t.Errorf("%s + %s: err %v, want illegal_transition", state, tr, err)
			}
			if out.Next != s || out.Emit != EmitNone {
				t.Errorf("%s + %s: rejected transition changed the subscription or emits", state, tr)
			}
			n++
		}
	}
	// A recorded half of a cancellation cannot be recorded again (duplicates and re-emits).
	for _, c := range []struct {
		s  Subscription
		tr Trigger
	}{
		{sub(Cancelling, func(s *Subscription) { s.RefundDone = true }), OnRefundIssued},
		{sub(Cancelling, func(s *Subscription) { s.SeatReleased = true }), OnSeatReleased},
		{sub(Pending, func(s *Subscription) { s.SeatReleased = true }), OnSeatReleased},
	} {
		if _, err := Apply(c.s, Input{Trigger: c.tr, At: t0}); !errors.Is(err, contracts.ErrIllegalTransition) {
			t.Errorf("repeated %s: err %v, want illegal_transition", c.tr, err)
		}
		if !Echo(c.s, c.tr) {
			t.Errorf("repeated %s in %s is not an echo", c.tr, c.s.State)
		}
		n++
	}
	if n != 23 {
		t.Fatalf("checked %d illegal transitions, want 23", n)
	}
	// Only repeats of a recorded compensation half are echoes, not other rejected events.
	if Echo(sub(Active), OnPaymentSucceeded) || Echo(sub(Cancelled), OnRefundIssued) || Echo(sub(Pending), OnSeatReleased) {
		t.Error("an event that repeats nothing recorded is an echo")
	}
}

func TestProRataRefund(t *testing.T) {
	until := t0.AddDate(0, 1, 0)
	total := until.Sub(t0)
	cases := []struct {
		name    string
		charged int64
		now     time.Time
		want    int64
	}{
		{"before the period", 3000, t0.Add(-time.Hour), 3000},
		{"at the start", 3000, t0, 3000},
		{"half way", 3000, t0.Add(total / 2), 1500},
		{"rounds down", 1000, t0.Add(total / 3), 666},
		{"at the end", 3000, until, 0},
		{"after the end", 3000, until.Add(time.Hour), 0},
		{"nothing charged", 0, t0.Add(time.Hour), 0},
		{"huge price does not overflow", contracts.MaxPriceAmount, t0.Add(total / 4), contracts.MaxPriceAmount * 3 / 4},
	}
	for _, c := range cases {
		if got := ProRataRefund(c.charged, t0, until, c.now); got != c.want {
			t.Errorf("%s: refund %d, want %d", c.name, got, c.want)
		}
	}
}

func TestPeriodEnd(t *testing.T) {
	for p, want := range map[contracts.BillingPeriod]time.Time{
		contracts.BillingWeekly: t0.AddDate(0, 0, 7), contracts.BillingMonthly: t0.AddDate(0, 1, 0),
		contracts.BillingQuarterly: t0.AddDate(0, 3, 0), contracts.BillingYearly: t0.AddDate(1, 0, 0),
	} {
		if got := PeriodEnd(t0, p); !got.Equal(want) {
			t.Errorf("%s: %v, want %v", p, got, want)
		}
	}
}

func TestTerminalCarriesChargeOrRefund(t *testing.T) {
	s := sub(Active, active)
	if d := s.Terminal(); d.AmountMinor != 3000 || !d.WasActive || d.State != Active {
		t.Fatalf("activated data %+v", d)
	}
	s.State, s.RefundMinor, s.Reason = Cancelled, 120, ReasonByConsumer
	if d := s.Terminal(); d.AmountMinor != 120 || d.Reason != ReasonByConsumer || !d.WasActive {
		t.Fatalf("cancelled data %+v", d)
	}
}
