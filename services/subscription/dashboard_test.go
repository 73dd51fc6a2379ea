package subscription_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/subscription"
)

// The dashboard puts each fact on the (UTC) day its event occurred, counts each day's active
// subscribers back from the product's total, shows only the last 30 days, and a rebuild from
// the streams gives the same days back.
func TestDashboardDays(t *testing.T) {
	s := moatest.Service(t, subscription.Start, moatest.With{Postgres: true, Declared: subscription.Settings})
	seller := authntest.Seller()
	product := uuid.NewString()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	day := func(n int) time.Time { return today.AddDate(0, 0, -n).Add(9 * time.Hour) }
	publish := func(ev contracts.Event[contracts.SubscriptionTerminalData], at time.Time, d contracts.SubscriptionTerminalData) {
		t.Helper()
		env, subject, err := bus.NewEnvelope(context.Background(), nil, "subscription", ev, d.SubscriptionID, d)
		if err != nil {
			t.Fatal(err)
		}
		env.OccurredAt = at
		if _, err := s.Runtime.Publish(context.Background(), subject, env); err != nil {
			t.Fatal(err)
		}
	}
	pay := func(ev contracts.Event[contracts.PaymentData], at time.Time, sub string, amount int64) {
		t.Helper()
		d := contracts.PaymentData{SubscriptionID: sub, ProductID: product, AmountMinor: amount, Currency: "KRW"}
		env, subject, err := bus.NewEnvelope(context.Background(), nil, "billing", ev, sub, d)
		if err != nil {
			t.Fatal(err)
		}
		env.OccurredAt = at
		if _, err := s.Runtime.Publish(context.Background(), subject, env); err != nil {
			t.Fatal(err)
		}
	}
	sub := func() contracts.SubscriptionTerminalData {
		return contracts.SubscriptionTerminalData{SubscriptionID: uuid.NewString(), ProductID: product, ConsumerID: uuid.NewString(),
			SellerID: seller.UserID, State: contracts.SubActive, AmountMinor: 1000, Currency: "KRW"}
	}
	// Forty days ago (outside the window, still in the running total): A subscribes.
	a := sub()
	publish(contracts.SubscriptionActivated, day(40), a)
	pay(contracts.PaymentSucceededEvent, day(40), a.SubscriptionID, 1000)
	// Two days ago B subscribes; yesterday C fails; today B cancels with a refund.
	b := sub()
	publish(contracts.SubscriptionActivated, day(2), b)
	pay(contracts.PaymentSucceededEvent, day(2), b.SubscriptionID, 1000)
	c := sub()
	c.State, c.Reason, c.AmountMinor = contracts.SubCancelled, "payment_failed", 0
	publish(contracts.SubscriptionCancelled, day(1), c)
	bc := b
	bc.State, bc.Reason, bc.WasActive, bc.AmountMinor = contracts.SubCancelled, "by_consumer", true, 600
	publish(contracts.SubscriptionCancelled, day(0), bc)
	pay(contracts.RefundIssuedEvent, day(0), b.SubscriptionID, 600)

	ds := func(n int) string { return day(n).Format(time.DateOnly) }
	want := []contracts.DashboardDay{
		{Day: ds(2), Subscribed: 1, ChargedMinor: 1000, ActiveSubscribers: 2},
		{Day: ds(1), Failed: 1, ActiveSubscribers: 2},
		{Day: ds(0), Churned: 1, RefundedMinor: 600, ActiveSubscribers: 1},
	}
	check := func() error {
		d, err := s.Client.Subscription.Dashboard(s.As(context.Background(), seller))
		if err != nil {
			return err
		}
		if len(d.Items) != 1 {
			return fmt.Errorf("dashboard has %d products, want 1", len(d.Items))
		}
		x := d.Items[0]
		if x.ActiveSubscribers != 1 || x.RevenueMinor != 1400 || x.Churned != 1 || x.Failed != 1 {
			return fmt.Errorf("totals: %+v", x)
		}
		if !reflect.DeepEqual(x.Days, want) {
			return fmt.Errorf("days:\n got %+v\nwant %+v", x.Days, want)
		}
		return nil
	}
	moatest.WaitFor(t, 20*time.Second, check)

	r, err := s.Client.Subscription.RebuildDashboard(s.As(context.Background(), authntest.Operator()))
	if err != nil || r.Events != 7 {
		t.Fatalf("rebuild: %+v, %v; want the 7 events replayed", r, err)
	}
	if err := check(); err != nil {
		t.Errorf("after the rebuild: %v", err)
	}

	// Day rows that begin after the product's first subscription (a database counted before
	// dashboard_days existed, or rebuilt from streams that lost the oldest events): the days
	// are counted back from the total, not up from 0.
	if _, err := s.Postgres.Exec(context.Background(), `DELETE FROM dashboard_days WHERE product_id = $1 AND day < $2::date`,
		product, ds(2)); err != nil {
		t.Fatal(err)
	}
	if err := check(); err != nil {
		t.Errorf("without the oldest day rows: %v", err)
	}
	// A product with a subscription and no day row at all, then a fact today.
	if _, err := s.Postgres.Exec(context.Background(), `DELETE FROM dashboard_days WHERE product_id = $1`, product); err != nil {
		t.Fatal(err)
	}
	c2 := sub()
	c2.State, c2.Reason, c2.AmountMinor = contracts.SubCancelled, "payment_failed", 0
	publish(contracts.SubscriptionCancelled, day(0), c2)
	want = []contracts.DashboardDay{{Day: ds(0), Failed: 1, ActiveSubscribers: 1}}
	moatest.WaitFor(t, 20*time.Second, func() error {
		d, err := s.Client.Subscription.Dashboard(s.As(context.Background(), seller))
		if err != nil {
			return err
		}
		if len(d.Items) != 1 || !reflect.DeepEqual(d.Items[0].Days, want) {
			return fmt.Errorf("dashboard %+v, want one product with days %+v", d.Items, want)
		}
		return nil
	})
}
