package domain_test

import (
	"errors"
	"testing"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/catalog/domain"
)

func TestValidCurrency(t *testing.T) {
	for _, c := range []string{"KRW", "USD", "EUR", "JPY", "GBP", "CNY", "CHF", "VES", "SLE", "ZWG", "XCG"} {
		if !domain.ValidCurrency(c) {
			t.Errorf("%s refused", c)
		}
	}
	// Shapes the contract would accept but no active currency: invented, test, metal, fund, withdrawn.
	for _, c := range []string{"ZZZ", "XTS", "XXX", "XAU", "BOV", "HRK", "VEF", "ZWL", "ANG", "krw", "", "KRWW"} {
		if domain.ValidCurrency(c) {
			t.Errorf("%q accepted", c)
		}
	}
}

func TestProductCurrencyMustBeISO4217(t *testing.T) {
	f := validNew
	f.Currency = "ZZZ"
	_, err := domain.NewProduct("id", seller, f, now)
	var ce *contracts.Error
	if !errors.Is(err, contracts.ErrValidation) || !errors.As(err, &ce) || ce.Field != "currency" {
		t.Fatalf("ZZZ: %v (want validation_failed on currency)", err)
	}
	p, err := domain.NewProduct("id", seller, validNew, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(seller, domain.Patch{Currency: ptr("ZZZ")}, now); !errors.Is(err, contracts.ErrValidation) {
		t.Fatalf("patch to ZZZ: %v", err)
	}
	if _, err := p.Apply(seller, domain.Patch{Currency: ptr("USD")}, now); err != nil || p.Currency != "USD" {
		t.Fatalf("patch to USD: %v, %q", err, p.Currency)
	}
	// A product stored with a code ISO has since withdrawn can still be edited otherwise.
	p.Currency = "HRK"
	if _, err := p.Apply(seller, domain.Patch{Title: ptr("renamed")}, now); err != nil {
		t.Fatalf("edit of a product in a withdrawn currency: %v", err)
	}
}
