package adapters

import (
	"encoding/json"
	"fmt"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/payout/domain"
)

// Upcaster turns the data of one schema version into the next one's, as raw JSON fields: it
// runs before the body is decoded into the current type, so old types need not exist in code.
type Upcaster func(fields map[string]json.RawMessage) error

// Codec maps ledger entries to and from their envelopes. Current is the schema version it
// writes; Up[v] turns version v into v+1, so any older entry reads as the current one.
type Codec struct {
	Current int
	Up      map[int]Upcaster
}

// LedgerCodec is the codec of the running code: it writes version 2 and reads 1 and 2.
var LedgerCodec = Codec{Current: contracts.PayoutLedgerEvent.Version, Up: map[int]Upcaster{1: upcastV1}}

// upcastV1: a version-1 credit or refund carried its net effect in amount_minor. Version 2
// keeps the payment's gross and the fee apart: the old net becomes the gross with no fee, which
// moves the balance by the same amount. Payout entries did not change.
func upcastV1(f map[string]json.RawMessage) error {
	var kind string
	if err := json.Unmarshal(f["kind"], &kind); err != nil {
		return fmt.Errorf("v1 entry kind: %w", err)
	}
	if kind == domain.Credited || kind == domain.Refunded {
		if a, ok := f["amount_minor"]; ok {
			f["gross_minor"] = a
			delete(f, "amount_minor")
		}
		delete(f, "fee_minor")
	}
	return nil
}

// Decode reads the entry of env, upcasting it from its schema version.
func (c Codec) Decode(env contracts.Envelope) (domain.Entry, error) {
	v := env.SchemaVersion
	if v < 1 || v > c.Current {
		return domain.Entry{}, fmt.Errorf("ledger entry %s: schema version %d (this code reads 1 to %d)", env.ID, v, c.Current)
	}
	data := env.Data
	if v < c.Current {
		var f map[string]json.RawMessage
		if err := json.Unmarshal(data, &f); err != nil {
			return domain.Entry{}, fmt.Errorf("ledger entry %s: %w", env.ID, err)
		}
		for ; v < c.Current; v++ {
			up := c.Up[v]
			if up == nil {
				return domain.Entry{}, fmt.Errorf("ledger entry %s: no upcaster from version %d", env.ID, v)
			}
			if err := up(f); err != nil {
				return domain.Entry{}, fmt.Errorf("ledger entry %s: %w", env.ID, err)
			}
		}
		var err error
		if data, err = json.Marshal(f); err != nil {
			return domain.Entry{}, err
		}
	}
	var w contracts.PayoutLedgerEntry
	if err := json.Unmarshal(data, &w); err != nil {
		return domain.Entry{}, fmt.Errorf("ledger entry %s: %w", env.ID, err)
	}
	e := domain.Entry{ID: env.ID, Kind: w.Kind, SellerID: w.SellerID, Currency: w.Currency,
		SourceEventID: w.SourceEventID, PaymentID: w.PaymentID, GrossMinor: w.GrossMinor, FeeMinor: w.FeeMinor,
		PayoutID: w.PayoutID, AmountMinor: w.AmountMinor, BankRef: w.BankRef, Reason: w.Reason, At: w.At}
	return e, e.Validate()
}

// Wire is the current wire form of e.
func Wire(e domain.Entry) contracts.PayoutLedgerEntry {
	return contracts.PayoutLedgerEntry{Kind: e.Kind, SellerID: e.SellerID, Currency: e.Currency,
		SourceEventID: e.SourceEventID, PaymentID: e.PaymentID, GrossMinor: e.GrossMinor, FeeMinor: e.FeeMinor,
		PayoutID: e.PayoutID, AmountMinor: e.AmountMinor, BankRef: e.BankRef, Reason: e.Reason, At: e.At}
}
