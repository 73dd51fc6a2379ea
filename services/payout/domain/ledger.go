// Package domain holds the payout rules: a seller's ledger as an event-sourced aggregate
// (entries applied in order give the balance), the decisions that produce new entries, and
// the upcasters that read entries written under older schema versions.
package domain

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/contracts"
)

// Entry kinds (the contracts' vocabulary).
const (
	Credited        = contracts.LedgerCredited
	Refunded        = contracts.LedgerRefunded
	PayoutRequested = contracts.LedgerPayoutRequested
	PayoutPaid      = contracts.LedgerPayoutPaid
	PayoutReversed  = contracts.LedgerPayoutReversed
)

// Entry is one ledger event, current schema.
type Entry struct {
	// ID is derived from what caused the entry (EntryID), so the same cause always makes the
	// same id: the stream's duplicate window and the ledger's Seen both key on it.
	ID            string
	Kind          string
	SellerID      string
	Currency      string
	SourceEventID string
	PaymentID     string
	GrossMinor    int64
	FeeMinor      int64
	PayoutID      string
	AmountMinor   int64
	BankRef       string
	Reason        string
	At            time.Time
}

// Delta is what the entry does to the balance of its currency.
func (e Entry) Delta() int64 {
	switch e.Kind {
	case Credited:
		return e.GrossMinor - e.FeeMinor
	case Refunded:
		return -e.GrossMinor
	case PayoutRequested:
		return -e.AmountMinor
	case PayoutReversed:
		return e.AmountMinor
	}
	return 0
}

// entryNS namespaces the derived entry ids (UUIDv5).
var entryNS = uuid.MustParse("5b0c7f0e-6a55-4a8e-9d1c-1d0c0a7e5e19")

// EntryID is the id of the entry of kind caused by cause (a billing event id, a payout id).
func EntryID(kind, cause string) string {
	return uuid.NewSHA1(entryNS, []byte(kind+":"+cause)).String()
}

// Payout is a payout the ledger reserved and the bank has not settled.
type Payout struct {
	ID          string    `json:"id"`
	AmountMinor int64     `json:"amount_minor"`
	Currency    string    `json:"currency"`
	RequestedAt time.Time `json:"requested_at"`
}

// Ledger is a seller's balance, folded from their entries. It is also what a snapshot holds.
type Ledger struct {
	SellerID string `json:"seller_id"`
	// Seq is the stream sequence of the last entry applied: the expected last sequence of the
	// seller's subject for the next append (0: no entry yet).
	Seq uint64 `json:"seq"`
	// Events counts the entries applied; SnapshotEvents is Events at the last snapshot.
	Events         int64             `json:"events"`
	SnapshotEvents int64             `json:"snapshot_events"`
	Balances       map[string]int64  `json:"balances"`
	Pending        map[string]Payout `json:"pending"`
	// Seen are the ids of the last SeenWindow entries, oldest first: a duplicate of any of them
	// does nothing. The window is bounded so that a snapshot (and a load) stays the same size
	// however long the history grows.
	Seen    []string        `json:"seen"`
	seenSet map[string]bool `json:"-"`
	window  int
}

// DefaultSeenWindow is how many recent entry ids a ledger remembers by default.
const DefaultSeenWindow = 10000

// NewLedger is the empty ledger of seller, remembering the last window entry ids.
func NewLedger(seller string, window int) *Ledger {
	l := &Ledger{SellerID: seller}
	l.init(window)
	return l
}

// Restore prepares a ledger decoded from a snapshot.
func (l *Ledger) Restore(window int) { l.init(window) }

func (l *Ledger) init(window int) {
	if window <= 0 {
		window = DefaultSeenWindow
	}
	l.window = window
	if l.Balances == nil {
		l.Balances = map[string]int64{}
	}
	if l.Pending == nil {
		l.Pending = map[string]Payout{}
	}
	if len(l.Seen) > window {
		l.Seen = l.Seen[len(l.Seen)-window:]
	}
	l.seenSet = make(map[string]bool, len(l.Seen))
	for _, id := range l.Seen {
		l.seenSet[id] = true
	}
}

// Has reports whether the entry id is among the remembered ones.
func (l *Ledger) Has(id string) bool { return l.seenSet[id] }

// Apply folds e, stored at stream sequence seq, into the ledger. An entry already seen only
// moves Seq: the store may hold a duplicate (appended twice past every window) and it must
// count once however the ledger is loaded.
func (l *Ledger) Apply(e Entry, seq uint64) {
	l.Seq = seq
	if l.seenSet[e.ID] {
		return
	}
	l.Events++
	l.Seen = append(l.Seen, e.ID)
	l.seenSet[e.ID] = true
	if len(l.Seen) > l.window {
		delete(l.seenSet, l.Seen[0])
		l.Seen = l.Seen[1:]
	}
	l.Balances[e.Currency] += e.Delta()
	switch e.Kind {
	case PayoutRequested:
		l.Pending[e.PayoutID] = Payout{ID: e.PayoutID, AmountMinor: e.AmountMinor, Currency: e.Currency, RequestedAt: e.At}
	case PayoutPaid, PayoutReversed:
		delete(l.Pending, e.PayoutID)
	}
}

// Fee is the platform's fee on gross at bps basis points, rounded down.
func Fee(gross int64, bps int) int64 { return gross * int64(bps) / 10000 }

// Credit is the entry of a payment to the seller, or nil when it was applied already. Its id
// comes from the payment, not the event: billing re-emits a settled payment's event under a
// new event id (its sweeper re-sending a stuck saga step), and that must not credit twice. The
// event id is kept as information only.
func (l *Ledger) Credit(eventID, paymentID, currency string, gross int64, feeBps int, at time.Time) *Entry {
	e := Entry{ID: EntryID(Credited, paymentID), Kind: Credited, SellerID: l.SellerID, Currency: currency,
		SourceEventID: eventID, PaymentID: paymentID, GrossMinor: gross, FeeMinor: Fee(gross, feeBps), At: at}
	if l.Has(e.ID) {
		return nil
	}
	return &e
}

// Refund is the entry of a refund of the seller's payment, or nil when it was applied already.
// The fee is not given back: the platform keeps it (billing refunds the consumer in full). As
// for Credit, the id comes from paymentID (a refund is its own payment in billing, with its own
// id), so a re-emitted refund_issued under a new event id is recognised.
func (l *Ledger) Refund(eventID, paymentID, currency string, gross int64, at time.Time) *Entry {
	e := Entry{ID: EntryID(Refunded, paymentID), Kind: Refunded, SellerID: l.SellerID, Currency: currency,
		SourceEventID: eventID, PaymentID: paymentID, GrossMinor: gross, At: at}
	if l.Has(e.ID) {
		return nil
	}
	return &e
}

// ErrNothingToPay is returned for a payout of more than the balance, or of an empty one.
var ErrNothingToPay = contracts.ErrConflict.Msg("the balance does not cover this payout")

// RequestPayout reserves amount (0: the whole balance) of currency for a new payout.
func (l *Ledger) RequestPayout(payoutID, currency string, amount int64, at time.Time) (Entry, error) {
	bal := l.Balances[currency]
	if amount == 0 {
		amount = bal
	}
	if amount <= 0 || amount > bal {
		return Entry{}, ErrNothingToPay.Msg("the %s balance is %d; a payout of %d is not possible", currency, bal, amount)
	}
	return Entry{ID: EntryID(PayoutRequested, payoutID), Kind: PayoutRequested, SellerID: l.SellerID, Currency: currency,
		PayoutID: payoutID, AmountMinor: amount, At: at}, nil
}

// Settle is the entry that ends pending payout id: paid with the bank's reference, or reversed
// (the compensation: the amount goes back on the balance) with the reason. It is nil when the
// payout is not pending any more: another instance settled it.
func (l *Ledger) Settle(id string, paid bool, bankRef, reason string, at time.Time) *Entry {
	p, ok := l.Pending[id]
	if !ok {
		return nil
	}
	e := Entry{SellerID: l.SellerID, Currency: p.Currency, PayoutID: id, AmountMinor: p.AmountMinor, At: at}
	if paid {
		e.ID, e.Kind, e.BankRef = EntryID(PayoutPaid, id), PayoutPaid, bankRef
	} else {
		e.ID, e.Kind, e.Reason = EntryID(PayoutReversed, id), PayoutReversed, reason
	}
	return &e
}

// Validate rejects an entry no decision makes (a store written by something else).
func (e Entry) Validate() error {
	switch e.Kind {
	case Credited, Refunded, PayoutRequested, PayoutPaid, PayoutReversed:
	default:
		return fmt.Errorf("unknown ledger entry kind %q", e.Kind)
	}
	if e.ID == "" {
		return fmt.Errorf("ledger entry without id")
	}
	return nil
}

// PayoutRecord is a payout as the history projection holds it.
type PayoutRecord struct {
	ID          string
	AmountMinor int64
	Currency    string
	Status      string
	BankRef     string
	Reason      string
	RequestedAt time.Time
	UpdatedAt   time.Time
}
