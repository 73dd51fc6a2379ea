package domain

import (
	"testing"

	"github.com/moa-run/moa/contracts"
)

func TestNextNeverSendsAStepThatMayHaveBeenSent(t *testing.T) {
	cases := []struct {
		name string
		p    Payment
		want Action
	}{
		{"fresh", Payment{Status: contracts.PaymentPending}, Call},
		{"attempted before a crash", Payment{Status: contracts.PaymentPending, Attempts: 1}, Lookup},
		{"timed out", Payment{Status: contracts.PaymentUnknown, Attempts: 1}, Lookup},
		{"unknown even without attempts", Payment{Status: contracts.PaymentUnknown}, Lookup},
		{"succeeded", Payment{Status: contracts.PaymentSucceeded, Attempts: 3}, Done},
		{"failed", Payment{Status: contracts.PaymentFailed}, Done},
	}
	for _, c := range cases {
		if got := Next(c.p); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func TestAfterLookupMiss(t *testing.T) {
	if a := AfterLookupMiss(true); a != Call {
		t.Fatalf("a step the provider has no record of: %d, want sent again under its key (Call)", a)
	}
	if a := AfterLookupMiss(false); a != Void {
		t.Fatalf("a charge that must not be sent any more: %d, want voided under its key", a)
	}
}

func TestRefundAmountIsBoundedByTheCharge(t *testing.T) {
	ok := Payment{Step: Charge, Status: contracts.PaymentSucceeded, AmountMinor: 1000}
	cases := []struct {
		name      string
		requested int64
		charge    Payment
		want      int64
	}{
		{"part", 400, ok, 400},
		{"all", 1000, ok, 1000},
		{"more than charged", 5000, ok, 1000},
		{"negative", -1, ok, 0},
		{"charge failed", 400, Payment{Step: Charge, Status: contracts.PaymentFailed, AmountMinor: 1000}, 0},
		{"charge voided", 400, Payment{Step: Charge, Status: contracts.PaymentFailed, FailureCode: FailCancelled}, 0},
		{"charge unknown", 400, Payment{Step: Charge, Status: contracts.PaymentUnknown, AmountMinor: 1000}, 0},
	}
	for _, c := range cases {
		if got := RefundAmount(c.requested, c.charge); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func TestOutcome(t *testing.T) {
	cases := []struct {
		p    Payment
		want Event
	}{
		{Payment{Step: Charge, Status: contracts.PaymentSucceeded}, PaymentSucceeded},
		{Payment{Step: Charge, Status: contracts.PaymentFailed, FailureCode: FailDeclined}, PaymentFailed},
		{Payment{Step: Charge, Status: contracts.PaymentFailed, FailureCode: FailProviderError}, PaymentFailed},
		{Payment{Step: Charge, Status: contracts.PaymentFailed, FailureCode: FailCancelled}, NoEvent},
		{Payment{Step: Charge, Status: contracts.PaymentPending}, NoEvent},
		{Payment{Step: Refund, Status: contracts.PaymentSucceeded}, RefundIssued},
		{Payment{Step: Refund, Status: contracts.PaymentFailed}, NoEvent},
	}
	for _, c := range cases {
		if got := c.p.Outcome(); got != c.want {
			t.Errorf("%s %s %s: %d, want %d", c.p.Step, c.p.Status, c.p.FailureCode, got, c.want)
		}
	}
	if k := (Payment{Step: Refund, SubscriptionID: "s"}).IdempotencyKey(); k != "refund:s" {
		t.Fatalf("key %q", k)
	}
}
