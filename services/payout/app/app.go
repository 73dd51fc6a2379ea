// Package app holds the payout use cases: crediting and debiting a seller's ledger from
// billing's events, paying out on request or on schedule (with the bank's rejection reversed
// by a compensating entry), and the reads. Every change is a decision on the ledger as loaded,
// appended only if nobody appended since (optimistic concurrency), else decided again on the
// new state.
package app

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/payout/domain"
)

// ErrRejected is the bank's final no: the payout is reversed. Any other bank error leaves the
// payout pending, to be retried with the same payout id.
var ErrRejected = errors.New("the bank rejected the transfer")

// ErrConflict is what Store.Append returns when the seller's subject moved on.
var ErrConflict = errors.New("payout ledger: another writer appended first")

// Transfer is one payout as the bank sees it; PayoutID is its idempotency key.
type Transfer struct {
	PayoutID    string
	SellerID    string
	AmountMinor int64
	Currency    string
}

// Bank pays sellers.
type Bank interface {
	Transfer(ctx context.Context, t Transfer) (ref string, err error)
}

// Sellers tells whose a product is.
type Sellers interface {
	SellerOf(ctx context.Context, productID string) (string, error)
}

// Store is the event store of the ledgers.
type Store interface {
	Load(ctx context.Context, seller string) (*domain.Ledger, error)
	// Append stores e if seller's last sequence is still expected (ErrConflict otherwise); dup
	// reports an entry the store had already.
	Append(ctx context.Context, e domain.Entry, expected uint64) (seq uint64, dup bool, err error)
	SaveSnapshot(ctx context.Context, l *domain.Ledger) error
	// LastSeq is the ledger stream's last sequence; Scan reads every entry of the subjects
	// filter matches from one sequence to another.
	LastSeq(ctx context.Context) (uint64, error)
	Scan(ctx context.Context, filter string, from, to uint64, fn func(e domain.Entry, seq uint64) error) error
	// Filter matches every seller's ledger.
	Filter() string
}

// History is the payout history projection.
type History interface {
	Page(ctx context.Context, seller string, limit int, cursor string) ([]domain.PayoutRecord, string, error)
	// Rebuild empties the projection and applies what replay hands it; it returns the rows.
	Rebuild(ctx context.Context, replay func(ctx context.Context, fn func(e domain.Entry, seq uint64) error) error) (int64, error)
}

// Config are the rules the settings give.
type Config struct {
	FeeBps        int // platform fee on payments, in basis points
	SnapshotEvery int // a snapshot every this many entries
	MaxAttempts   int // optimistic-concurrency retries of one decision
}

// App is the payout use cases.
type App struct {
	store   Store
	history History
	bank    Bank
	sellers Sellers
	cfg     Config
	log     *slog.Logger
	now     func() time.Time

	// Conflicts counts the appends that lost a race and were decided again (tests read it).
	Conflicts func()

	// stripes serialise one instance's decisions on a seller (by a hash of the id): the
	// consumer's concurrent events of one seller would otherwise mostly race each other, and
	// only other instances' appends are left to the optimistic check.
	stripes [64]sync.Mutex
}

func (a *App) stripe(seller string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(seller))
	return &a.stripes[h.Sum32()%uint32(len(a.stripes))]
}

// New returns the app.
func New(store Store, history History, bank Bank, sellers Sellers, cfg Config, log *slog.Logger) *App {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 50
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &App{store: store, history: history, bank: bank, sellers: sellers, cfg: cfg, log: log, now: time.Now,
		Conflicts: func() {}}
}

// decide returns the entry to append on l, nil for none.
type decide func(l *domain.Ledger) (*domain.Entry, error)

// execute loads seller's ledger, decides, and appends with the ledger's last sequence as the
// expected one. Losing the race reloads and decides again on the winner's state: no update is
// lost, and a decision that no longer holds (a balance already paid out) fails or does nothing.
func (a *App) execute(ctx context.Context, seller string, fn decide) (*domain.Ledger, *domain.Entry, error) {
	mu := a.stripe(seller)
	mu.Lock()
	defer mu.Unlock()
	for attempt := 1; ; attempt++ {
		l, err := a.store.Load(ctx, seller)
		if err != nil {
			return nil, nil, err
		}
		e, err := fn(l)
		if err != nil || e == nil {
			return l, nil, err
		}
		seq, dup, err := a.store.Append(ctx, *e, l.Seq)
		if errors.Is(err, ErrConflict) {
			a.Conflicts()
			if attempt >= a.cfg.MaxAttempts {
				return nil, nil, contracts.ErrConflict.Msg("the ledger of %s kept changing; %d attempts", seller, attempt)
			}
			// A little jitter, growing with the attempts, so that instances racing on one
			// seller do not keep colliding in step.
			select {
			case <-time.After(time.Duration(rand.Int64N(int64(min(attempt, 20)) * int64(time.Millisecond)))):
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if dup {
			// The stream had this entry already (the same cause twice inside its duplicate
			// window, past the ledger's own memory): it counted once, nothing to do.
			return l, nil, nil
		}
		l.Apply(*e, seq)
		a.maybeSnapshot(ctx, l)
		return l, e, nil
	}
}

// maybeSnapshot stores l when SnapshotEvery entries were applied since its last snapshot. A
// failure only costs the next loads a longer tail.
func (a *App) maybeSnapshot(ctx context.Context, l *domain.Ledger) {
	if a.cfg.SnapshotEvery <= 0 || l.Events-l.SnapshotEvents < int64(a.cfg.SnapshotEvery) {
		return
	}
	l.SnapshotEvents = l.Events
	if err := a.store.SaveSnapshot(ctx, l); err != nil {
		a.log.Warn("payout snapshot not saved", "seller", l.SellerID, "error", err)
	}
}

// Payment is a billing payment or refund as the consumer hands it over.
type Payment struct {
	EventID     string
	PaymentID   string
	ProductID   string
	SellerID    string // from the event; empty in events older than the field
	AmountMinor int64
	Currency    string
	At          time.Time
}

// sellerOf is the seller the payment's event names, else (an event older than the field) the
// catalog's answer: a product deleted since is not_found there, and its payments and refunds
// would never reach the ledger.
func (a *App) sellerOf(ctx context.Context, p Payment) (string, error) {
	seller := p.SellerID
	if seller == "" {
		var err error
		if seller, err = a.sellers.SellerOf(ctx, p.ProductID); err != nil {
			return "", err
		}
	}
	if !contracts.IsUUID(seller) {
		return "", contracts.ErrValidation.Msg("payment %s of product %s has no valid seller id", p.PaymentID, p.ProductID)
	}
	if contracts.ValidateCurrency("currency", p.Currency) != nil || p.AmountMinor < 0 {
		return "", contracts.ErrValidation.Msg("payment %s: amount %d %q is not valid", p.PaymentID, p.AmountMinor, p.Currency)
	}
	return seller, nil
}

// Credit puts a payment on its seller's balance, less the platform fee, once per event.
func (a *App) Credit(ctx context.Context, p Payment) error {
	seller, err := a.sellerOf(ctx, p)
	if err != nil {
		return err
	}
	_, _, err = a.execute(ctx, seller, func(l *domain.Ledger) (*domain.Entry, error) {
		return l.Credit(p.EventID, p.PaymentID, p.Currency, p.AmountMinor, a.cfg.FeeBps, p.At), nil
	})
	return err
}

// Refund takes a refund off its seller's balance, once per event.
func (a *App) Refund(ctx context.Context, p Payment) error {
	seller, err := a.sellerOf(ctx, p)
	if err != nil {
		return err
	}
	_, _, err = a.execute(ctx, seller, func(l *domain.Ledger) (*domain.Entry, error) {
		return l.Refund(p.EventID, p.PaymentID, p.Currency, p.AmountMinor, p.At), nil
	})
	return err
}

// RequestPayout reserves amount (0: all) of the seller's currency balance for a new payout
// and sends it to the bank. The payout comes back paid, reversed, or pending when the bank did
// not answer (the schedule retries it).
func (a *App) RequestPayout(ctx context.Context, seller, currency string, amount int64) (domain.PayoutRecord, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return domain.PayoutRecord{}, err
	}
	_, e, err := a.execute(ctx, seller, func(l *domain.Ledger) (*domain.Entry, error) {
		e, err := l.RequestPayout(id.String(), currency, amount, a.now())
		return &e, err
	})
	if err != nil {
		return domain.PayoutRecord{}, err
	}
	if e == nil {
		// The store reported the entry as a duplicate: this payout id was appended already (a
		// retried append whose first answer was lost). It is pending on the ledger, or settled.
		return a.pendingPayout(ctx, seller, id.String())
	}
	rec := domain.PayoutRecord{ID: e.PayoutID, AmountMinor: e.AmountMinor, Currency: e.Currency,
		Status: contracts.PayoutPending, RequestedAt: e.At, UpdatedAt: e.At}
	return a.settle(ctx, seller, rec)
}

// pendingPayout reloads seller's ledger and settles payout id if it is still pending; a payout
// no longer pending was settled by someone else, and its outcome is in the history only.
func (a *App) pendingPayout(ctx context.Context, seller, id string) (domain.PayoutRecord, error) {
	l, err := a.store.Load(ctx, seller)
	if err != nil {
		return domain.PayoutRecord{}, err
	}
	p, ok := l.Pending[id]
	if !ok {
		return domain.PayoutRecord{}, contracts.ErrUnavailable.Msg("payout %s was recorded but its state is not known yet; see the history", id)
	}
	return a.settle(ctx, seller, domain.PayoutRecord{ID: p.ID, AmountMinor: p.AmountMinor, Currency: p.Currency,
		Status: contracts.PayoutPending, RequestedAt: p.RequestedAt, UpdatedAt: p.RequestedAt})
}

// Settle sends pending payout id of seller to the bank again (the schedule's retry).
func (a *App) Settle(ctx context.Context, seller, id string) (domain.PayoutRecord, error) {
	l, err := a.store.Load(ctx, seller)
	if err != nil {
		return domain.PayoutRecord{}, err
	}
	p, ok := l.Pending[id]
	if !ok {
		return domain.PayoutRecord{ID: id}, nil // settled meanwhile
	}
	return a.settle(ctx, seller, domain.PayoutRecord{ID: p.ID, AmountMinor: p.AmountMinor, Currency: p.Currency,
		Status: contracts.PayoutPending, RequestedAt: p.RequestedAt, UpdatedAt: p.RequestedAt})
}

// settle asks the bank and records its answer: paid, or reversed by a compensating entry
// that puts the amount back on the balance. A bank error that is not a rejection leaves the
// payout pending.
func (a *App) settle(ctx context.Context, seller string, rec domain.PayoutRecord) (domain.PayoutRecord, error) {
	ref, err := a.bank.Transfer(ctx, Transfer{PayoutID: rec.ID, SellerID: seller, AmountMinor: rec.AmountMinor, Currency: rec.Currency})
	paid, reason := err == nil, ""
	if err != nil {
		if !errors.Is(err, ErrRejected) {
			a.log.Warn("payout left pending: the bank did not answer", "payout", rec.ID, "error", err)
			return rec, nil
		}
		reason = err.Error()
	}
	_, e, err := a.execute(ctx, seller, func(l *domain.Ledger) (*domain.Entry, error) {
		return l.Settle(rec.ID, paid, ref, reason, a.now()), nil
	})
	if err != nil {
		return rec, err
	}
	if e == nil {
		return rec, nil // another instance settled it; the history shows how
	}
	rec.UpdatedAt, rec.BankRef, rec.Reason = e.At, e.BankRef, e.Reason
	rec.Status = contracts.PayoutPaid
	if e.Kind == domain.PayoutReversed {
		rec.Status = contracts.PayoutReversed
	}
	return rec, nil
}

// Balance is the seller's ledger as loaded now.
func (a *App) Balance(ctx context.Context, seller string) (*domain.Ledger, error) {
	return a.store.Load(ctx, seller)
}

// History is a page of the seller's payouts.
func (a *App) History(ctx context.Context, seller string, limit int, cursor string) ([]domain.PayoutRecord, string, error) {
	return a.history.Page(ctx, seller, limit, cursor)
}

// Due is what the schedule found to do.
type Due struct {
	SellerID, Currency, PayoutID string
}

// Scheduler lists the work of one scheduled run.
type Scheduler interface {
	Payable(ctx context.Context, min int64, limit int) ([]Due, error)
	Pending(ctx context.Context, cutoff time.Time, limit int) ([]Due, error)
}

// RunSchedule retries the payouts pending for longer than retryAfter, then pays out every
// balance of at least min. The lists come from the projection (a little behind); each payout
// is decided on the ledger itself, so a balance another instance just paid out is not paid
// twice.
//
// One seller's failure (its ledger kept changing, a load timed out) is logged and counted in
// failed, and the run goes on with the others: it must not hold every other seller's payout
// back until the next run. Only the lists themselves failing ends the run with an error.
func (a *App) RunSchedule(ctx context.Context, s Scheduler, min int64, retryAfter time.Duration, batch int) (paid, failed int, err error) {
	pending, err := s.Pending(ctx, a.now().Add(-retryAfter), batch)
	if err != nil {
		return 0, 0, err
	}
	for _, d := range pending {
		if ctx.Err() != nil {
			return paid, failed, ctx.Err()
		}
		if _, err := a.Settle(ctx, d.SellerID, d.PayoutID); err != nil {
			failed++
			a.log.Warn("scheduled payout retry failed; next run tries again", "seller", d.SellerID, "payout", d.PayoutID, "error", err)
		}
	}
	due, err := s.Payable(ctx, min, batch)
	if err != nil {
		return paid, failed, err
	}
	for _, d := range due {
		if ctx.Err() != nil {
			return paid, failed, ctx.Err()
		}
		_, err := a.RequestPayout(ctx, d.SellerID, d.Currency, 0)
		if errors.Is(err, domain.ErrNothingToPay) {
			continue
		}
		if err != nil {
			failed++
			a.log.Warn("scheduled payout failed; next run tries again", "seller", d.SellerID, "currency", d.Currency, "error", err)
			continue
		}
		paid++
	}
	return paid, failed, nil
}

// RebuildHistory replays the whole ledger stream into an emptied history projection and
// returns the entries replayed and the payouts in the history.
func (a *App) RebuildHistory(ctx context.Context) (entries, payouts int64, err error) {
	payouts, err = a.history.Rebuild(ctx, func(ctx context.Context, fn func(e domain.Entry, seq uint64) error) error {
		entries = 0 // a retried transaction starts over
		last, err := a.store.LastSeq(ctx)
		if err != nil || last == 0 {
			return err
		}
		return a.store.Scan(ctx, a.store.Filter(), 1, last, func(e domain.Entry, seq uint64) error {
			entries++
			return fn(e, seq)
		})
	})
	return entries, payouts, err
}
