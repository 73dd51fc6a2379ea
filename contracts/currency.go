package contracts

import (
	"slices"
	"strings"
)

// activeCurrencyCodes are the ISO 4217 codes of currencies in circulation (list one of the
// standard), which a product may be newly priced in. Left out on purpose: fund codes (BOV,
// CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), precious metals and special codes (XAU, XAG, XPD,
// XPT, XBA–XBD, XDR, XSU, XUA), the test code XTS, "no currency" XXX, and withdrawn codes
// (HRK, MRO, STD, VEF, ZWL replaced by ZWG in 2024, ANG replaced by XCG in 2025, ...). It is
// part of the contract, so that the schema lists it (a client's currency picker) and the
// catalog checks the same list. A code that ISO retires stays accepted for products that
// already have it: only a create, or an update that changes the currency, checks the list.
const activeCurrencyCodes = `AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP
GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD
OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC
SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF
YER ZAR ZMW ZWG`

var activeCurrencies = strings.Fields(activeCurrencyCodes)

// ActiveCurrencies returns the active ISO 4217 codes, sorted.
func ActiveCurrencies() []string { return slices.Clone(activeCurrencies) }

// IsActiveCurrency reports whether code is an active ISO 4217 code (upper case).
func IsActiveCurrency(code string) bool {
	_, ok := slices.BinarySearch(activeCurrencies, code)
	return ok
}
