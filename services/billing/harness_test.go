package billing_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/billing"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// harness is billing on real NATS and PostgreSQL, driven by the saga events a catalog and a
// subscription service would emit.
type harness struct {
	t    testing.TB
	n    *moatest.NATSServer
	rt   *bus.Runtime
	iss  *authntest.Issuer
	bill *client.BillingClient
	url  string
	pool *pgxpool.Pool
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newHarness(t testing.TB) *harness {
	t.Helper()
	n := moatest.NATS(t)
	rt, err := bus.New(n.Conn(t), bus.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(ctxT(t, 10*time.Second), false) })
	h := &harness{t: t, n: n, rt: rt, iss: authntest.NewIssuer(t, rt), bill: client.NewBillingClient(rt.Client()), url: moatest.Postgres(t)}
	if h.pool, err = pgxpool.New(context.Background(), h.url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.pool.Close)
	return h
}

// start starts one billing instance (call it twice for two replicas) with settings.
func (h *harness) start(settings map[string]string) {
	h.t.Helper()
	rt, err := bus.New(h.n.Conn(h.t), bus.WithLogger(quiet()))
	if err != nil {
		h.t.Fatal(err)
	}
	comp, err := billing.Start(ctxT(h.t, time.Minute), bus.Env{Runtime: rt, PostgresURL: h.url, Setting: func(k string) string { return settings[k] }, Declared: billing.Settings})
	if err != nil {
		h.t.Fatalf("billing.Start: %v", err)
	}
	h.t.Cleanup(func() {
		ctx := ctxT(h.t, 20*time.Second)
		if err := comp.Stop(ctx); err != nil {
			h.t.Errorf("billing stop: %v", err)
		}
		_ = rt.Close(ctx, false)
	})
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
	if _, err := bus.Emit(ctxT(h.t, 10*time.Second), h.rt, "catalog", contracts.SeatReserved, s.id, contracts.SeatData{
		SubscriptionID: s.id, ProductID: s.product, ConsumerID: s.consumer.UserID, SellerID: s.seller.UserID,
		AmountMinor: amount, Currency: "KRW"}); err != nil {
		h.t.Fatal(err)
	}
}

// cancel emits subscription.cancel_requested for s.
func (h *harness) cancel(s saga, refund int64) {
	h.t.Helper()
	if _, err := bus.Emit(ctxT(h.t, 10*time.Second), h.rt, "subscription", contracts.SubscriptionCancelRequested, s.id,
		contracts.SubscriptionCancelRequestedData{SubscriptionID: s.id, ProductID: s.product, ConsumerID: s.consumer.UserID,
			SellerID: s.seller.UserID, RefundMinor: refund, Currency: "KRW"}); err != nil {
		h.t.Fatal(err)
	}
}

// events returns billing's events about s, by type, in stream order.
func (h *harness) events(s saga) []contracts.Envelope {
	h.t.Helper()
	ctx := ctxT(h.t, 10*time.Second)
	c, err := h.rt.JetStream().OrderedConsumer(ctx, contracts.StreamBilling.Name, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"evt.billing.*." + s.id}})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []contracts.Envelope
	for {
		b, err := c.FetchNoWait(100)
		if err != nil {
			h.t.Fatal(err)
		}
		n := 0
		for m := range b.Messages() {
			n++
			var env contracts.Envelope
			if err := json.Unmarshal(m.Data(), &env); err != nil {
				h.t.Fatal(err)
			}
			out = append(out, env)
		}
		if n == 0 {
			return out
		}
	}
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
	if err := h.pool.QueryRow(ctxT(h.t, 10*time.Second), `SELECT count(*), coalesce(sum(amount_minor) FILTER (WHERE succeeded), 0)
		FROM sim_provider_ledger WHERE idempotency_key = $1`, step+":"+s.id).Scan(&records, &succeeded); err != nil {
		h.t.Fatal(err)
	}
	return records, succeeded
}

// payments reads s's payment steps as its consumer.
func (h *harness) payments(s saga) []contracts.Payment {
	h.t.Helper()
	l, err := h.bill.Payments(h.iss.Context(ctxT(h.t, 10*time.Second), s.consumer), s.id)
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
