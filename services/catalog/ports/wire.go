package ports

import (
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/catalog/app"
	"github.com/moa-run/moa/services/catalog/domain"
)

// The wire forms of the endpoints' results. The adapters map products the same way for events
// and the cache (adapters/wire.go); the two mappings must agree.

// productView is a product's wire form. Tags and images are never null on the wire.
func productView(p domain.Product) contracts.Product {
	return contracts.Product{
		ID: p.ID, SellerID: p.SellerID, Title: p.Title, Description: p.Description,
		PriceAmount: p.PriceAmount, Currency: p.Currency, BillingPeriod: p.BillingPeriod,
		Terms: p.Terms, TermsVersion: p.TermsVersion, Capacity: p.Capacity, SeatsTaken: p.SeatsTaken,
		Tags: nonNil(p.Tags), ImageURLs: nonNil(p.ImageURLs), Views: p.Views, Version: p.Version,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
}

// pageView is a list page's wire form, or the error. Items are never null on the wire.
func pageView(p app.Page, err error) (contracts.ProductPage, error) {
	if err != nil {
		return contracts.ProductPage{}, err
	}
	out := contracts.ProductPage{Items: make([]contracts.ProductSummary, 0, len(p.Items)), NextCursor: p.NextCursor}
	for _, s := range p.Items {
		out.Items = append(out.Items, contracts.ProductSummary{
			ID: s.ID, SellerID: s.SellerID, Title: s.Title, PriceAmount: s.PriceAmount, Currency: s.Currency,
			BillingPeriod: s.BillingPeriod, TermsVersion: s.TermsVersion, Capacity: s.Capacity, SeatsTaken: s.SeatsTaken,
			Tags: nonNil(s.Tags), ImageURL: s.ImageURL, Views: s.Views, CreatedAt: s.CreatedAt,
		})
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
