package sagasuite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/subscription"
)

// The dashboard is a projection: replaying the streams into an empty one gives the same
// numbers, and they agree with the services' own records.
func TestDashboardRebuildReproducesTheNumbers(t *testing.T) {
	set := fastSettings()
	set["billing"]["SIM_DECLINE_RATE"] = "0.4"
	s := newStack(t, set)
	seller := authntest.Seller()
	products := []contracts.Product{s.product(seller, 3, 1000), s.product(seller, 5, 2500)}
	type saga struct {
		who contracts.Principal
		id  string
	}
	var sagas []saga
	for i := range 10 {
		who := authntest.Consumer()
		sagas = append(sagas, saga{who, s.subscribe(who, products[i%2].ID).ID})
	}
	terminal := func(sg saga) contracts.Subscription {
		var got contracts.Subscription
		moatest.WaitFor(t, 30*time.Second, func() error {
			var err error
			got, err = s.sub.Get(s.as(sg.who), sg.id)
			if err == nil && (got.State == contracts.SubPending || got.State == contracts.SubCancelling) {
				err = errors.New("in progress")
			}
			return err
		})
		return got
	}
	cancelled := 0
	for _, sg := range sagas {
		if got := terminal(sg); got.State == contracts.SubActive && cancelled < 2 {
			if _, err := s.sub.Cancel(s.as(sg.who), sg.id); err != nil {
				t.Fatal(err)
			}
			cancelled++
		}
	}
	for _, sg := range sagas {
		terminal(sg)
	}
	s.quiet()
	before, err := s.sub.Dashboard(s.as(seller))
	if err != nil {
		t.Fatal(err)
	}

	// The numbers agree with the subscriptions and the provider's ledger.
	var want []contracts.Dashboard
	for _, p := range products {
		d := contracts.Dashboard{ProductID: p.ID, SellerID: seller.UserID, Currency: "KRW"}
		ctx := ctxT(t, 10*time.Second)
		if err := s.pools["subscription"].QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE state = 'ACTIVE'),
			count(*) FILTER (WHERE state = 'CANCELLED' AND was_active),
			count(*) FILTER (WHERE state = 'CANCELLED' AND NOT was_active)
			FROM subscriptions WHERE product_id = $1`, p.ID).Scan(&d.ActiveSubscribers, &d.Churned, &d.Failed); err != nil {
			t.Fatal(err)
		}
		if err := s.pools["billing"].QueryRow(ctx, `SELECT coalesce(sum(CASE l.kind WHEN 'charge' THEN l.amount_minor ELSE -l.amount_minor END), 0)
			FROM sim_provider_ledger l JOIN payments p ON p.subscription_id = split_part(l.idempotency_key, ':', 2) AND p.step = 'charge'
			WHERE l.succeeded AND p.product_id = $1`, p.ID).Scan(&d.RevenueMinor); err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
	}
	sortDashboards(want)
	sortDashboards(before.Items)
	// The records hold no days: the totals are compared without them, and the days must add up
	// to the totals (all of this test's sagas ran within the window the days cover).
	totals := make([]contracts.Dashboard, len(before.Items))
	for i, d := range before.Items {
		totals[i] = d
		totals[i].Days = nil
		var sub, churned, failed, money int64
		for _, day := range d.Days {
			sub, churned, failed = sub+day.Subscribed, churned+day.Churned, failed+day.Failed
			money += day.ChargedMinor - day.RefundedMinor
		}
		last := int64(-1)
		if len(d.Days) > 0 {
			last = d.Days[len(d.Days)-1].ActiveSubscribers
		}
		if sub != d.ActiveSubscribers+d.Churned || churned != d.Churned || failed != d.Failed || money != d.RevenueMinor || last != d.ActiveSubscribers {
			t.Errorf("product %s: days %+v do not add up to its totals %+v", d.ProductID, d.Days, totals[i])
		}
	}
	if !reflect.DeepEqual(totals, want) {
		t.Fatalf("dashboard\n%+v\ndisagrees with the records\n%+v", totals, want)
	}

	var out bytes.Buffer
	if err := subscription.ProjectionsCommand(s.as(authntest.Operator()), s.nats.Conn(t), []string{"rebuild"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "dashboard rebuilt") {
		t.Fatalf("rebuild printed %q", out.String())
	}
	after, err := s.sub.Dashboard(s.as(seller))
	if err != nil {
		t.Fatal(err)
	}
	sortDashboards(after.Items)
	if !reflect.DeepEqual(before.Items, after.Items) {
		t.Fatalf("after rebuild\n%+v\nwant\n%+v", after.Items, before.Items)
	}
	t.Logf("%s dashboard: %+v", strings.TrimSpace(out.String()), after.Items)
}

func sortDashboards(ds []contracts.Dashboard) {
	for i := range ds {
		for j := i + 1; j < len(ds); j++ {
			if ds[j].ProductID < ds[i].ProductID {
				ds[i], ds[j] = ds[j], ds[i]
			}
		}
	}
}

// With billing down a saga cannot finish: the sweeper re-emits its step, shows it as stuck,
// then compensates it; when billing comes back the compensation completes without charging
// twice or keeping the money.
func TestStuckSagasAreNudgedThenTimedOut(t *testing.T) {
	set := fastSettings()
	set["subscription"] = map[string]string{"SWEEP_INTERVAL": "200ms", "STUCK_AFTER": "1s", "TIMEOUT_AFTER": "5s"}
	s := newStack(t, set, "catalog", "subscription")
	seller, consumer := authntest.Seller(), authntest.Consumer()
	p := s.product(seller, 2, 4000)
	sub := s.subscribe(consumer, p.ID)

	var out bytes.Buffer
	moatest.WaitFor(t, 20*time.Second, func() error {
		out.Reset()
		if err := subscription.SagasCommand(s.as(authntest.Operator()), s.nats.Conn(t), []string{"stuck", "--older-than", "1s"}, &out); err != nil {
			return err
		}
		if !strings.Contains(out.String(), sub.ID) || !strings.Contains(out.String(), "PENDING") {
			return fmt.Errorf("not listed yet: %s", out.String())
		}
		st, err := s.sub.Stuck(s.as(authntest.Operator()), contracts.StuckSagasRequest{})
		if err != nil {
			return err
		}
		if st.Count != 1 || st.Items[0].Nudges < 1 {
			return fmt.Errorf("stuck %+v", st)
		}
		return nil
	})
	t.Logf("moa sagas stuck:\n%s", out.String())
	moatest.Eventually(t, 10*time.Second, func() bool { return s.metric("subscription", "moa_sagas_stuck") == 1 }, "gauge moa_sagas_stuck = 1")
	if n := s.metric("subscription", "moa_saga_nudges_total"); n < 1 {
		t.Fatalf("moa_saga_nudges_total %v", n)
	}
	got := s.settle(consumer, sub.ID, contracts.SubCancelling)
	if got.Reason != "timed_out" {
		t.Fatalf("reason %q, want timed_out", got.Reason)
	}
	moatest.Eventually(t, 20*time.Second, func() bool { return s.seatsTaken(p.ID) == 0 }, "the timed-out saga's seat released")

	// Billing comes back: the seat_reserved (and its re-emissions) and the cancellation race.
	s.start("billing")
	got = s.settle(consumer, sub.ID, contracts.SubCancelled)
	s.quiet()
	nc, charged := s.ledger("charge", sub.ID)
	nr, refunded := s.ledger("refund", sub.ID)
	if nc > 1 || nr > 1 || refunded != charged || got.RefundMinor != refunded {
		t.Fatalf("timed-out saga: %d charges (%d), %d refunds (%d), subscription says refund %d", nc, charged, nr, refunded, got.RefundMinor)
	}
	if s.seatsTaken(p.ID) != 0 {
		t.Fatal("seat taken after the timed-out saga finished")
	}
	moatest.Eventually(t, 10*time.Second, func() bool { return s.metric("subscription", "moa_sagas_stuck") == 0 }, "gauge back to 0")
	t.Logf("timed-out saga: charged %d, refunded %d (%d charge records)", charged, refunded, nc)
}

// Events that do not fit the saga's state are rejected by the state machine and acked: the
// subscription, its terminal events and the dead letters stay as they were.
func TestIllegalEventsAreRejectedNotApplied(t *testing.T) {
	s := newStack(t, fastSettings())
	seller, consumer := authntest.Seller(), authntest.Consumer()
	p := s.product(seller, 2, 900)
	sub := s.subscribe(consumer, p.ID)
	s.settle(consumer, sub.ID, contracts.SubActive)
	s.quiet()
	ctx := ctxT(t, 10*time.Second)
	// A re-emitted payment_succeeded (a new event id) and a seat_unavailable out of nowhere.
	if _, err := bus.Emit(ctx, s.rt, "billing", contracts.PaymentSucceededEvent, sub.ID,
		contracts.PaymentData{SubscriptionID: sub.ID, ProductID: p.ID, AmountMinor: 900, Currency: "KRW"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Emit(ctx, s.rt, "catalog", contracts.SeatUnavailable, sub.ID,
		contracts.SeatData{SubscriptionID: sub.ID, ProductID: p.ID, Reason: "sold_out"}); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 20*time.Second, func() bool { return s.metric("subscription", "moa_saga_illegal_transitions_total") == 2 },
		"both events rejected")
	s.quiet()
	got, err := s.sub.Get(s.as(consumer), sub.ID)
	if err != nil || got.State != contracts.SubActive {
		t.Fatalf("subscription %s (%v), want still ACTIVE", got.State, err)
	}
	js := s.rt.JetStream()
	if n := len(streamEvents(t, js, contracts.StreamSubscription.Name, "evt.subscription.*."+sub.ID)); n != 2 {
		t.Fatalf("%d subscription events (requested, activated), want 2", n)
	}
	if n := deadLetters(t, js); n != 0 {
		t.Fatalf("%d dead letters, want none", n)
	}
	d, err := s.sub.Dashboard(s.as(seller))
	if err != nil || len(d.Items) != 1 || d.Items[0].RevenueMinor != 900 || d.Items[0].ActiveSubscribers != 1 {
		t.Fatalf("dashboard %+v (%v): the re-emitted charge was counted again", d.Items, err)
	}
}

func TestSubscriptionEndpointsCheckTheCaller(t *testing.T) {
	s := newStack(t, fastSettings())
	seller, consumer, stranger := authntest.Seller(), authntest.Consumer(), authntest.Consumer()
	p := s.product(seller, 5, 100)
	want := func(err error, code *contracts.Error, field string) {
		t.Helper()
		var ce *contracts.Error
		if !errors.Is(err, code) || (field != "" && (!errors.As(err, &ce) || ce.Field != field)) {
			t.Fatalf("error %v, want %s on %q", err, code.Code, field)
		}
	}
	_, err := s.sub.Subscribe(context.Background(), p.ID, "")
	want(err, contracts.ErrUnauthenticated, "")
	_, err = s.sub.Subscribe(s.as(seller), p.ID, "")
	want(err, contracts.ErrForbidden, "")
	_, err = s.sub.Subscribe(s.as(consumer), "0190c0de-0000-7000-8000-000000000000", "")
	want(err, contracts.ErrNotFound, "product_id")
	_, err = s.sub.Subscribe(s.as(consumer), "not.a.token", "")
	want(err, contracts.ErrValidation, "product_id")
	_, err = s.sub.Subscribe(s.as(consumer), p.ID, strings.Repeat("k", 129))
	want(err, contracts.ErrValidation, "idempotency_key")

	a, err := s.sub.Subscribe(s.as(consumer), p.ID, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.sub.Subscribe(s.as(consumer), p.ID, "key-1")
	if err != nil || b.ID != a.ID {
		t.Fatalf("retry with the same key: %v %v, want subscription %s", b.ID, err, a.ID)
	}
	_, err = s.sub.Subscribe(s.as(consumer), p.ID, "key-2")
	want(err, contracts.ErrAlreadyExists, "product_id")
	_, err = s.sub.Cancel(s.as(consumer), a.ID)
	if !errors.Is(err, contracts.ErrIllegalTransition) && !errors.Is(err, contracts.ErrNotFound) {
		// It may already be ACTIVE on a fast machine; then cancel is legal.
		if err != nil {
			t.Fatalf("cancel of a pending subscription: %v", err)
		}
	}
	_, err = s.sub.Get(s.as(stranger), a.ID)
	want(err, contracts.ErrNotFound, "")
	if _, err := s.sub.Get(s.as(seller), a.ID); err != nil {
		t.Fatalf("the seller reads the subscription: %v", err)
	}
	mine, err := s.sub.Mine(s.as(consumer))
	if err != nil || len(mine.Items) != 1 || mine.Items[0].ID != a.ID {
		t.Fatalf("mine %+v (%v)", mine.Items, err)
	}
	_, err = s.sub.Subscribers(s.as(authntest.Seller()), p.ID)
	want(err, contracts.ErrForbidden, "")
	if _, err := s.sub.Subscribers(ctxT(t, 10*time.Second), p.ID); err != nil {
		t.Fatalf("a service (no token) asks for subscribers: %v", err)
	}
	_, err = s.sub.Dashboard(s.as(consumer))
	want(err, contracts.ErrForbidden, "")
	_, err = s.sub.Stuck(s.as(seller), contracts.StuckSagasRequest{})
	want(err, contracts.ErrForbidden, "")
	_, err = s.sub.Stuck(ctxT(t, 10*time.Second), contracts.StuckSagasRequest{})
	want(err, contracts.ErrUnauthenticated, "")
	_, err = s.sub.Stuck(s.as(authntest.Operator()), contracts.StuckSagasRequest{Limit: 5000})
	want(err, contracts.ErrValidation, "limit")
	var out bytes.Buffer
	err = subscription.SagasCommand(ctxT(t, 10*time.Second), s.nats.Conn(t), []string{"stuck", "--limit", "zero"}, &out)
	want(err, contracts.ErrValidation, "")
}
