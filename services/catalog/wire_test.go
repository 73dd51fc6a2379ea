package catalog_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
)

// Products reach the wire through two mappings: ports map the endpoints' responses, adapters
// the events and the cache entries. A product must look the same through all of them.
func TestProductWireFormAgrees(t *testing.T) {
	h := newHarness(t, nil)
	seller := authntest.Seller()
	req := sampleProduct("Wire form")
	req.ImageURLs = nil // no images: still [] on the wire, not null
	created := h.create(seller, req)

	var events []contracts.ProductCreatedData
	for _, e := range h.WaitEvents(t, "evt.catalog.product_created."+created.ID, 1) {
		var d contracts.ProductCreatedData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		events = append(events, d)
	}
	h.cacheSettled() // so that the first read fills the cache and the second one hits it
	got, err := h.cat.GetProduct(anon(), created.ID)
	if err != nil {
		t.Fatal(err)
	}
	cached, err := h.cat.GetProduct(anon(), created.ID)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]contracts.Product{"product_created": events[0].Product, "get": got, "cached get": cached} {
		if !reflect.DeepEqual(p, created) {
			t.Errorf("%s:\n  %+v\nwant what create_product returned:\n  %+v", name, p, created)
		}
	}
	if created.ImageURLs == nil || created.Tags == nil {
		t.Errorf("null lists on the wire: %+v", created)
	}
	page, err := h.cat.MyProducts(h.as(seller), contracts.PageRequest{})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("my products %+v, %v", page, err)
	}
	s := page.Items[0]
	want := contracts.ProductSummary{ID: created.ID, SellerID: created.SellerID, Title: created.Title, PriceAmount: created.PriceAmount,
		Currency: created.Currency, BillingPeriod: created.BillingPeriod, TermsVersion: created.TermsVersion, Capacity: created.Capacity,
		SeatsTaken: created.SeatsTaken, Tags: created.Tags, Views: created.Views, CreatedAt: created.CreatedAt}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("summary %+v, want %+v", s, want)
	}
}
