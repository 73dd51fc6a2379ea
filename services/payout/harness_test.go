package payout_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/payout"
	"github.com/moa-run/moa/services/payout/adapters"
	"github.com/moa-run/moa/services/payout/app"
	"github.com/moa-run/moa/services/payout/ports"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// fixture is one payout service on the service kit (real NATS and PostgreSQL, a test token
// issuer standing in for auth), a stand-in for the catalog's get_product, and billing's events
// published as billing would.
type fixture struct {
	*moatest.Kit[bus.Component]
	t       testing.TB
	catalog *fakeCatalog
	bank    *adapters.SimBank
}

func start(t testing.TB, settings map[string]string) *fixture {
	t.Helper()
	bank := &adapters.SimBank{}
	k := moatest.Service(t, func(ctx context.Context, env bus.Env) (bus.Component, error) {
		return payout.StartWithBank(ctx, env, bank)
	}, moatest.With{Postgres: true, Settings: settings, Declared: payout.Settings})
	return &fixture{Kit: k, t: t, catalog: serveCatalog(t, moatest.Runtime(t, k.NATS)), bank: bank}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// product registers a product of seller with the catalog stand-in.
func (f *fixture) product(seller string) string {
	id := uuid.NewString()
	f.catalog.put(id, seller)
	return id
}

// billing publishes a billing event about product as billing's outbox would, and returns it.
func (f *fixture) billing(ev contracts.Event[contracts.PaymentData], product string, amount int64) contracts.Envelope {
	f.t.Helper()
	sub := uuid.NewString()
	env, subject, err := bus.NewEnvelope(ctxT(f.t), nil, "billing", ev, sub, contracts.PaymentData{
		SubscriptionID: sub, PaymentID: uuid.NewString(), ProductID: product, AmountMinor: amount, Currency: "KRW"})
	if err != nil {
		f.t.Fatal(err)
	}
	f.publish(subject, env, env.ID)
	return env
}

// send publishes a billing event with body d (a fresh event id each time, as billing's
// re-emit gives it) and returns it.
func (f *fixture) send(ev contracts.Event[contracts.PaymentData], d contracts.PaymentData) contracts.Envelope {
	f.t.Helper()
	env, subject, err := bus.NewEnvelope(ctxT(f.t), nil, "billing", ev, d.SubscriptionID, d)
	if err != nil {
		f.t.Fatal(err)
	}
	f.publish(subject, env, env.ID)
	return env
}

// publish stores env on subject with msgID as its Nats-Msg-Id: another id than the event's is
// how a re-publish past the stream's duplicate window looks. It returns the stream sequence.
func (f *fixture) publish(subject string, env contracts.Envelope, msgID string) uint64 {
	f.t.Helper()
	msg, err := bus.EnvelopeMsg(subject, env)
	if err != nil {
		f.t.Fatal(err)
	}
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	ack, err := f.Runtime.JetStream().PublishMsg(ctxT(f.t), msg)
	if err != nil {
		f.t.Fatal(err)
	}
	return ack.Sequence
}

// republish publishes env again on its subject under a fresh Nats-Msg-Id.
func (f *fixture) republish(env contracts.Envelope) uint64 {
	f.t.Helper()
	ev := contracts.PaymentSucceededEvent
	if env.Type == contracts.RefundIssuedEvent.Type() {
		ev = contracts.RefundIssuedEvent
	}
	return f.publish(ev.Subject(env.Key), env, uuid.NewString())
}

// waitBilling waits until the billing consumer settled everything on BILLING.
func (f *fixture) waitBilling() {
	f.t.Helper()
	info, err := f.Runtime.JetStream().Stream(ctxT(f.t), contracts.StreamBilling.Name)
	if err != nil {
		f.t.Fatal(err)
	}
	f.WaitConsumed(f.t, contracts.StreamBilling.Name, ports.BillingConsumer.Durable, info.CachedInfo().State.LastSeq)
}

// waitHistory waits until the history projection applied everything on PAYOUT.
func (f *fixture) waitHistory() {
	f.t.Helper()
	st, err := f.Runtime.JetStream().Stream(ctxT(f.t), contracts.StreamPayout.Name)
	if err != nil {
		f.t.Fatal(err)
	}
	f.WaitConsumed(f.t, contracts.StreamPayout.Name, ports.HistoryConsumer.Durable, st.CachedInfo().State.LastSeq)
}

// balance is seller's balance in KRW as payout.v1.balance answers it to them.
func (f *fixture) balance(seller contracts.Principal) (balance, pending int64) {
	f.t.Helper()
	b, err := bus.Call(f.As(ctxT(f.t), seller), f.Runtime.Client(), contracts.PayoutGetBalance, contracts.Empty{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, a := range b.Balances {
		if a.Currency == "KRW" {
			balance = a.AmountMinor
		}
	}
	for _, a := range b.Pending {
		if a.Currency == "KRW" {
			pending = a.AmountMinor
		}
	}
	return balance, pending
}

// store opens the event store beside the service, on the test's own runtime.
func (f *fixture) store(window int) *adapters.Store {
	f.t.Helper()
	s, err := adapters.NewStore(ctxT(f.t), f.Runtime, adapters.LedgerCodec, window)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// app is a second instance of the payout use cases on the same stores (another replica's).
func (f *fixture) app(bank app.Bank, cfg app.Config) (*app.App, *adapters.Store) {
	s := f.store(0)
	return app.New(s, adapters.NewHistory(f.Postgres), bank, f.catalog, cfg, nil), s
}

// fakeCatalog serves catalog.v1.get_product from a map: a test double for another service.
type fakeCatalog struct {
	mu      sync.Mutex
	sellers map[string]string
}

func serveCatalog(t testing.TB, rt *bus.Runtime) *fakeCatalog {
	t.Helper()
	fc := &fakeCatalog{sellers: map[string]string{}}
	svc, err := rt.AddService(contracts.CatalogService)
	if err != nil {
		t.Fatal(err)
	}
	err = bus.Handle(svc, contracts.CatalogGetProduct, func(_ context.Context, req contracts.ProductRef) (contracts.Product, error) {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		s, ok := fc.sellers[req.ID]
		if !ok {
			return contracts.Product{}, contracts.ErrNotFound.Msg("no product %s", req.ID)
		}
		return contracts.Product{ID: req.ID, SellerID: s, Title: "plan"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fc
}

func (fc *fakeCatalog) put(product, seller string) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.sellers[product] = seller
}

// SellerOf is the catalog answer without a call, for app instances built in tests.
func (fc *fakeCatalog) SellerOf(_ context.Context, product string) (string, error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	s, ok := fc.sellers[product]
	if !ok {
		return "", contracts.ErrNotFound.Msg("no product %s", product)
	}
	return s, nil
}
