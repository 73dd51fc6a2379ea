// Package ports connects the payout service to the bus: its endpoints (payout.v1.*), its
// consumer of billing's payments and refunds, and the history projection's consumer of its own
// ledger stream.
package ports

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/payout/app"
	"github.com/moa-run/moa/services/payout/domain"
)

// RegisterEndpoints adds the payout endpoints to svc. The seller of record is the caller of
// the verified token: a seller reads and pays out only their own ledger.
func RegisterEndpoints(svc *bus.Service, a *app.App, auth bus.TokenVerifier) error {
	svc.UseVerifier(auth)
	for _, err := range []error{
		bus.Handle(svc, contracts.PayoutRequestPayout, func(ctx context.Context, req contracts.RequestPayoutRequest) (contracts.Payout, error) {
			p, _ := bus.Caller(ctx)
			rec, err := a.RequestPayout(ctx, p.UserID, req.Currency, req.AmountMinor)
			return payout(rec), err
		}),
		bus.Handle(svc, contracts.PayoutHistory, func(ctx context.Context, req contracts.PayoutHistoryRequest) (contracts.PayoutHistoryPage, error) {
			p, _ := bus.Caller(ctx)
			items, next, err := a.History(ctx, p.UserID, req.Limit, req.Cursor)
			out := contracts.PayoutHistoryPage{Items: make([]contracts.Payout, len(items)), NextCursor: next}
			for i, r := range items {
				out.Items[i] = payout(r)
			}
			return out, err
		}),
		bus.Handle(svc, contracts.PayoutGetBalance, func(ctx context.Context, _ contracts.Empty) (contracts.PayoutBalance, error) {
			p, _ := bus.Caller(ctx)
			l, err := a.Balance(ctx, p.UserID)
			if err != nil {
				return contracts.PayoutBalance{}, err
			}
			return balance(l), nil
		}),
		bus.Handle(svc, contracts.PayoutRebuildHistory, func(ctx context.Context, _ contracts.Empty) (contracts.PayoutRebuildResult, error) {
			entries, payouts, err := a.RebuildHistory(ctx)
			return contracts.PayoutRebuildResult{Entries: entries, Payouts: payouts}, err
		}),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

func payout(r domain.PayoutRecord) contracts.Payout {
	return contracts.Payout{ID: r.ID, AmountMinor: r.AmountMinor, Currency: r.Currency, Status: r.Status,
		BankRef: r.BankRef, Reason: r.Reason, RequestedAt: r.RequestedAt, UpdatedAt: r.UpdatedAt}
}

func balance(l *domain.Ledger) contracts.PayoutBalance {
	out := contracts.PayoutBalance{Balances: []contracts.CurrencyAmount{}}
	for c, v := range l.Balances {
		out.Balances = append(out.Balances, contracts.CurrencyAmount{Currency: c, AmountMinor: v})
	}
	pending := map[string]int64{}
	for _, p := range l.Pending {
		pending[p.Currency] += p.AmountMinor
	}
	for c, v := range pending {
		out.Pending = append(out.Pending, contracts.CurrencyAmount{Currency: c, AmountMinor: v})
	}
	sortAmounts(out.Balances)
	sortAmounts(out.Pending)
	return out
}

// The payout consumers.
var (
	// BillingConsumer credits payments and debits refunds. Its key is the subscription (the
	// events' subject key); two subscriptions of one seller race on the seller's ledger, which
	// optimistic concurrency settles.
	BillingConsumer = contracts.ConsumerSpec{
		Stream: contracts.StreamBilling, Durable: "payout_billing",
		FilterSubjects: []string{contracts.PaymentSucceededEvent.Filter(), contracts.RefundIssuedEvent.Filter()},
		MaxDeliver:     20,
		Backoff:        []time.Duration{200 * time.Millisecond, time.Second, 5 * time.Second, 30 * time.Second, time.Minute},
	}
	// HistoryConsumer projects the ledger into the payout history. Strictly one message at a
	// time: the projection skips what is at or below the last sequence it applied, so a later
	// entry must never overtake an earlier one being retried.
	HistoryConsumer = contracts.ConsumerSpec{
		Stream: contracts.StreamPayout, Durable: "payout_history",
		FilterSubjects: []string{contracts.PayoutLedgerEvent.Filter()},
		MaxDeliver:     100,
		Backoff:        []time.Duration{200 * time.Millisecond, time.Second, 5 * time.Second, 30 * time.Second},
	}
)

// Projector applies one ledger entry to the history.
type Projector interface {
	Apply(ctx context.Context, e domain.Entry, seq uint64) error
}

// Decoder reads a ledger envelope at its schema version.
type Decoder interface {
	Decode(env contracts.Envelope) (domain.Entry, error)
}

// Consumers declares the billing and history consumers.
func Consumers(a *app.App, history Projector, codec Decoder, concurrency int) []host.Consumer {
	billing := bus.NewEventMux()
	bus.On(billing, contracts.PaymentSucceededEvent, func(ctx context.Context, e bus.Event[contracts.PaymentData]) error {
		return a.Credit(ctx, payment(e))
	})
	bus.On(billing, contracts.RefundIssuedEvent, func(ctx context.Context, e bus.Event[contracts.PaymentData]) error {
		return a.Refund(ctx, payment(e))
	})
	return []host.Consumer{
		{Spec: BillingConsumer, Handler: billing.Handler(),
			Options: []bus.ConsumeOption{bus.WithKey(bus.SubjectKey), bus.WithConcurrency(max(1, concurrency))}},
		{Spec: HistoryConsumer, Handler: projectHandler(history, codec),
			Options: []bus.ConsumeOption{bus.WithConcurrency(1), bus.WithMaxAckPending(1)}},
	}
}

// projectHandler decodes the raw envelope itself: the entry may be of an older schema
// version, which the codec upcasts (bus.OnEvent would reject it as unknown).
func projectHandler(h Projector, codec Decoder) bus.Handler {
	return func(ctx context.Context, m *bus.Msg) ([]byte, error) {
		var env contracts.Envelope
		if err := json.Unmarshal(m.Data, &env); err != nil {
			return nil, bus.Permanent(contracts.ErrBadRequest.Msg("ledger entry at %d is not a valid envelope: %v", m.Sequence, err))
		}
		e, err := codec.Decode(env)
		if err != nil {
			return nil, bus.Permanent(err)
		}
		return nil, h.Apply(ctx, e, m.Sequence)
	}
}

func payment(e bus.Event[contracts.PaymentData]) app.Payment {
	return app.Payment{EventID: e.ID, PaymentID: e.Data.PaymentID, ProductID: e.Data.ProductID,
		SellerID: e.Data.SellerID, AmountMinor: e.Data.AmountMinor, Currency: e.Data.Currency, At: e.OccurredAt}
}

func sortAmounts(a []contracts.CurrencyAmount) {
	slices.SortFunc(a, func(x, y contracts.CurrencyAmount) int { return strings.Compare(x.Currency, y.Currency) })
}
