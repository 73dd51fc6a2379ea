package domain

import (
	"github.com/moa-run/moa/contracts"
)

// ValidCurrency reports whether code is an active ISO 4217 currency code (upper case). The list
// is part of the contract (contracts.ActiveCurrencies), so that the schema states it too; a
// code that ISO retires stays accepted for products that already have it: Apply checks the
// list only when a patch changes the currency.
func ValidCurrency(code string) bool { return contracts.IsActiveCurrency(code) }

// validateCurrency refuses a code that is malformed or names no active currency, on the
// currency field.
func validateCurrency(code string) error { return contracts.ValidateActiveCurrency("currency", code) }
