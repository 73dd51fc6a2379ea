package billing_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/billing"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// harness is billing on the service kit (real NATS and PostgreSQL), driven by the saga events
// a catalog and a subscription service would emit.
type harness struct {
	*moatest.Kit[bus.Component]
	t    testing.TB
	bill *client.BillingClient
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newHarness starts one billing instance with settings; Replica adds more.
func newHarness(t testing.TB, settings map[string]string) *harness {
	t.Helper()
	k := moatest.Service(t, billing.Start, moatest.With{Postgres: true, Settings: settings, Declared: billing.Settings})
	return &harness{Kit: k, t: t, bill: k.Client.Billing}
}

// saga is one saga's identities.
type saga struct {
	id, product string
	consumer    contracts.Principal
	seller      contracts.Principal
}

func newSaga() saga {
	return saga{id: uuid.NewString(), product: uuid.NewString(), consumer: authntest.Consumer(), seller: authntest.Seller()}
}

// reserved emits catalog.seat_reserved for s (a fresh event each call, as a re-emission is).
func (h *harness) reserved(s saga, amount int64) {
	h.t.Helper()
	if _, err := bus.Emit(ctxT(h.t, 10*time.Second), h.Runtime, "catalog", contracts.SeatReserved, s.id, contracts.SeatData{
		SubscriptionID: s.id, ProductID: s.product, ConsumerID: s.consumer.UserID, SellerID: s.seller.UserID,
		AmountMinor: amount, Currency: "KRW"}); err != nil {
		h.t.Fatal(err)
	}
}

// cancel emits subscription.cancel_requested for s.
func (h *harness) cancel(s saga, refund int64) {
	h.t.Helper()
	if _, err := bus.Emit(ctxT(h.t, 10*time.Second), h.Runtime, "subscription", contracts.SubscriptionCancelRequested, s.id,
		contracts.SubscriptionCancelRequestedData{SubscriptionID: s.id, ProductID: s.product, ConsumerID: s.consumer.UserID,
			SellerID: s.seller.UserID, RefundMinor: refund, Currency: "KRW"}); err != nil {
		h.t.Fatal(err)
	}
}

// events returns billing's events about s, by type, in stream order.
func (h *harness) events(s saga) []contracts.Envelope {
	h.t.Helper()
	return h.Events(h.t, "evt.billing.*."+s.id)
}

// waitEvent waits for an event of type typ about s and returns its data.
func (h *harness) waitEvent(s saga, typ string) contracts.PaymentData {
	h.t.Helper()
	var d contracts.PaymentData
	moatest.WaitFor(h.t, 30*time.Second, func() error {
		for _, e := range h.events(s) {
			if e.Type == typ {
				return json.Unmarshal(e.Data, &d)
			}
		}
		return errors.New("no " + typ + " yet")
	})
	return d
}

// ledger counts the provider's records (any outcome) and successful amount for s's step.
func (h *harness) ledger(step string, s saga) (records int, succeeded int64) {
	h.t.Helper()
	if err := h.Postgres.QueryRow(ctxT(h.t, 10*time.Second), `SELECT count(*), coalesce(sum(amount_minor) FILTER (WHERE succeeded), 0)
		FROM sim_provider_ledger WHERE idempotency_key = $1`, step+":"+s.id).Scan(&records, &succeeded); err != nil {
		h.t.Fatal(err)
	}
	return records, succeeded
}

// payments reads s's payment steps as its consumer.
func (h *harness) payments(s saga) []contracts.Payment {
	h.t.Helper()
	l, err := h.bill.Payments(h.As(ctxT(h.t, 10*time.Second), s.consumer), s.id)
	if err != nil {
		h.t.Fatal(err)
	}
	return l.Items
}

// settledPayments waits until every step of s is settled and there are n of them.
func (h *harness) settledPayments(s saga, n int) []contracts.Payment {
	h.t.Helper()
	var ps []contracts.Payment
	moatest.WaitFor(h.t, 30*time.Second, func() error {
		ps = h.payments(s)
		if len(ps) != n {
			return errors.New("not all steps recorded yet")
		}
		for _, p := range ps {
			if p.Status != contracts.PaymentSucceeded && p.Status != contracts.PaymentFailed {
				return errors.New("a step is " + string(p.Status))
			}
		}
		return nil
	})
	return ps
}
