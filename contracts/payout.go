package contracts

import "time"

// PayoutService keeps each seller's balance as an event-sourced ledger (the PAYOUT stream, one
// subject per seller) fed by billing's payments and refunds, and pays it out to the seller's
// bank on request or on a schedule.
var PayoutService = Service{Name: "payout", Version: "1.0.0", Major: 1,
	Description: "sellers' event-sourced balance ledger and payouts"}

// StreamPayout is the payout ledger: the event store of the seller balances, one subject per
// seller (evt.payout.ledger.<seller_id>). It is the source of truth, not a feed: it never
// expires, and its appends are checked with the expected last sequence of the seller's subject.
var StreamPayout = StreamSpec{
	Name: "PAYOUT", Description: "sellers' balance ledgers (event store)", Subjects: []string{"evt.payout.>"},
	Storage: FileStorage, Replicas: 3, Retention: LimitsRetention,
	Duplicates: 2 * time.Hour, Critical: true,
}

// Ledger entry kinds. The balance moves by: credited +gross−fee, refunded −gross,
// payout_requested −amount (reserved at once), payout_paid 0, payout_reversed +amount (the
// compensation of a payout the bank rejected).
const (
	LedgerCredited        = "credited"
	LedgerRefunded        = "refunded"
	LedgerPayoutRequested = "payout_requested"
	LedgerPayoutPaid      = "payout_paid"
	LedgerPayoutReversed  = "payout_reversed"
)

// PayoutLedgerEntry is one event of a seller's ledger, schema version 2. Version 1 had no
// gross_minor/fee_minor: a credit or refund carried its net effect in amount_minor (the fee
// already deducted); readers upcast it (gross = amount, fee = 0).
type PayoutLedgerEntry struct {
	Kind     string `json:"kind"`
	SellerID string `json:"seller_id"`
	Currency string `json:"currency"`
	// Credits and refunds: the billing event and payment they come from, the payment's amount
	// and, for credits, the platform fee kept.
	SourceEventID string `json:"source_event_id,omitempty"`
	PaymentID     string `json:"payment_id,omitempty"`
	GrossMinor    int64  `json:"gross_minor,omitempty"`
	FeeMinor      int64  `json:"fee_minor,omitempty"`
	// Payout entries: the payout, its amount, the bank's reference (paid) or why it was
	// reversed.
	PayoutID    string    `json:"payout_id,omitempty"`
	AmountMinor int64     `json:"amount_minor,omitempty"`
	BankRef     string    `json:"bank_ref,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	At          time.Time `json:"at"`
}

// PayoutLedgerEvent is the event type of every ledger entry; its key is the seller id.
var PayoutLedgerEvent = Event[PayoutLedgerEntry]{Stream: StreamPayout, Domain: "payout", Name: "ledger", Version: 2}

// Payout statuses.
const (
	PayoutPending  = "PENDING"  // reserved on the ledger, at the bank or waiting to be retried
	PayoutPaid     = "PAID"     // the bank accepted it
	PayoutReversed = "REVERSED" // the bank rejected it; the amount is back on the balance
)

// Payout is one payout as the seller's dashboard shows it.
type Payout struct {
	ID          string    `json:"id"`
	AmountMinor int64     `json:"amount_minor"`
	Currency    string    `json:"currency"`
	Status      string    `json:"status"`
	BankRef     string    `json:"bank_ref,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// RequestPayoutRequest asks to pay the caller's balance in Currency out to their bank.
// AmountMinor 0 pays the whole balance.
type RequestPayoutRequest struct {
	Currency    string `json:"currency"`
	AmountMinor int64  `json:"amount_minor,omitempty"`
}

// Validate checks the currency code and the amount.
func (r RequestPayoutRequest) Validate() error {
	if err := ValidateCurrency("currency", r.Currency); err != nil {
		return err
	}
	if r.AmountMinor < 0 || r.AmountMinor > MaxPriceAmount {
		return ErrValidation.OnField("amount_minor", "amount_minor must be between 0 and %d", MaxPriceAmount)
	}
	return nil
}

// Rules states Validate's rules (see Rules): any ISO 4217-shaped code (a balance may be held
// in a currency ISO has since retired), and an amount of 0 (the whole balance) or more.
func (RequestPayoutRequest) Rules() Rules {
	return Rules{Fields: fields(
		"currency", Rule{Pattern: PatternCurrency, Example: "KRW"},
		"amount_minor", rangeRule(0, MaxPriceAmount))}
}

// PayoutHistoryRequest asks for a page of the caller's payouts, newest first; Cursor is the
// previous page's NextCursor.
type PayoutHistoryRequest struct {
	Limit  int    `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

// Validate checks limit and cursor size.
func (r PayoutHistoryRequest) Validate() error {
	return PageRequest(r).Validate()
}

// PayoutHistoryPage is one page of payouts. NextCursor is empty on the last page.
type PayoutHistoryPage struct {
	Items      []Payout `json:"items"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// PayoutBalance is the caller's balance per currency, from their ledger.
type PayoutBalance struct {
	Balances []CurrencyAmount `json:"balances"`
	// Pending is what is reserved by payouts the bank has not settled yet.
	Pending []CurrencyAmount `json:"pending,omitempty"`
}

// CurrencyAmount is an amount in minor units of one currency.
type CurrencyAmount struct {
	Currency    string `json:"currency"`
	AmountMinor int64  `json:"amount_minor"`
}

// Payout endpoints. A seller only ever sees and moves their own ledger: the seller is the
// caller of the access token, never a request field.
var (
	PayoutRequestPayout = Endpoint[RequestPayoutRequest, Payout]{Service: PayoutService, Name: "request_payout", Access: AccessSeller,
		Description: "the calling seller pays their balance out to their bank"}
	PayoutHistory = Endpoint[PayoutHistoryRequest, PayoutHistoryPage]{Service: PayoutService, Name: "history", Access: AccessSeller, Idempotent: true,
		Description: "the calling seller's payouts, newest first"}
	PayoutGetBalance = Endpoint[Empty, PayoutBalance]{Service: PayoutService, Name: "balance", Access: AccessSeller, Idempotent: true,
		Description: "the calling seller's balance per currency"}
)

// PayoutRebuildResult reports a rebuild of the payout history projection.
type PayoutRebuildResult struct {
	Entries int64 `json:"entries"` // ledger entries replayed
	Payouts int64 `json:"payouts"` // history rows after the rebuild
}

// PayoutRebuildHistory empties the payout history and balances projection and replays the
// ledger stream into it (an operator's repair, or after a projection change).
var PayoutRebuildHistory = Endpoint[Empty, PayoutRebuildResult]{Service: PayoutService, Name: "rebuild_history", Access: AccessOperator,
	Timeout: 10 * time.Minute, Description: "operator: rebuild the payout history projection by replaying the ledger stream"}

func init() {
	register(PayoutRequestPayout, PayoutHistory, PayoutGetBalance, PayoutRebuildHistory, PayoutLedgerEvent)
}
