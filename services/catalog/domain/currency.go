package domain

import (
	"strings"

	"github.com/moa-run/moa/contracts"
)

// activeCurrencies are the ISO 4217 codes of currencies in circulation (list one of the
// standard), which a product may be priced in. The contract only checks the shape (three
// upper-case letters) because a client cannot be expected to carry the list; the catalog
// checks the list, so "ZZZ" is refused instead of being published. Left out on purpose: fund
// codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), precious metals and special codes (XAU,
// XAG, XPD, XPT, XBA–XBD, XDR, XSU, XUA), the test code XTS, "no currency" XXX, and withdrawn
// codes (HRK, MRO, STD, VEF, ZWL replaced by ZWG in 2024, ANG replaced by XCG in 2025, ...). A code that ISO retires stays accepted for products that
// already have it: Apply checks the list only when a patch changes the currency.
var activeCurrencies = func() map[string]bool {
	const codes = `AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP
GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD
OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC
SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF
YER ZAR ZMW ZWG`
	m := map[string]bool{}
	for _, c := range strings.Fields(codes) {
		m[c] = true
	}
	return m
}()

// ValidCurrency reports whether code is an active ISO 4217 currency code (upper case).
func ValidCurrency(code string) bool { return activeCurrencies[code] }

// validateCurrency refuses a well-formed code that names no active currency, on the currency
// field, with the same error code as the contract's shape check.
func validateCurrency(code string) error {
	if err := contracts.ValidateCurrency("currency", code); err != nil {
		return err
	}
	if !ValidCurrency(code) {
		return contracts.ErrValidation.OnField("currency", "currency %q is not an ISO 4217 currency code (such as KRW, USD or EUR)", code)
	}
	return nil
}
