package adapters

import (
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/catalog/app"
	"github.com/moa-run/moa/services/catalog/domain"
)

// The adapters write products in their wire form in two places: the product events (through
// the outbox) and the read cache, whose entries keep the shape they had when the app returned
// DTOs (so replicas of an earlier version read them right during a rolling deploy). Ports map
// the same types for the endpoints' responses (ports/wire.go); the two mappings must agree.

// productWire is a product's wire form. Tags and images are never null on the wire.
func productWire(p domain.Product) contracts.Product {
	return contracts.Product{
		ID: p.ID, SellerID: p.SellerID, Title: p.Title, Description: p.Description,
		PriceAmount: p.PriceAmount, Currency: p.Currency, BillingPeriod: p.BillingPeriod,
		Terms: p.Terms, TermsVersion: p.TermsVersion, Capacity: p.Capacity, SeatsTaken: p.SeatsTaken,
		Tags: nonNil(p.Tags), ImageURLs: nonNil(p.ImageURLs), Views: p.Views, Version: p.Version,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
}

// productFromWire reads a cached product back.
func productFromWire(p contracts.Product) domain.Product {
	return domain.Product{
		ID: p.ID, SellerID: p.SellerID, Title: p.Title, Description: p.Description,
		PriceAmount: p.PriceAmount, Currency: p.Currency, BillingPeriod: p.BillingPeriod,
		Terms: p.Terms, TermsVersion: p.TermsVersion, Capacity: p.Capacity, SeatsTaken: p.SeatsTaken,
		Tags: p.Tags, ImageURLs: p.ImageURLs, Views: p.Views, Version: p.Version,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
}

// pageWire is a list page's wire form (as cached). Items are never null.
func pageWire(p app.Page) contracts.ProductPage {
	out := contracts.ProductPage{Items: make([]contracts.ProductSummary, 0, len(p.Items)), NextCursor: p.NextCursor}
	for _, s := range p.Items {
		out.Items = append(out.Items, contracts.ProductSummary{
			ID: s.ID, SellerID: s.SellerID, Title: s.Title, PriceAmount: s.PriceAmount, Currency: s.Currency,
			BillingPeriod: s.BillingPeriod, TermsVersion: s.TermsVersion, Capacity: s.Capacity, SeatsTaken: s.SeatsTaken,
			Tags: nonNil(s.Tags), ImageURL: s.ImageURL, Views: s.Views, CreatedAt: s.CreatedAt,
		})
	}
	return out
}

// pageFromWire reads a cached page back.
func pageFromWire(p contracts.ProductPage) app.Page {
	out := app.Page{Items: make([]domain.Summary, 0, len(p.Items)), NextCursor: p.NextCursor}
	for _, s := range p.Items {
		out.Items = append(out.Items, domain.Summary{
			ID: s.ID, SellerID: s.SellerID, Title: s.Title, PriceAmount: s.PriceAmount, Currency: s.Currency,
			BillingPeriod: s.BillingPeriod, TermsVersion: s.TermsVersion, Capacity: s.Capacity, SeatsTaken: s.SeatsTaken,
			Tags: s.Tags, ImageURL: s.ImageURL, Views: s.Views, CreatedAt: s.CreatedAt,
		})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
