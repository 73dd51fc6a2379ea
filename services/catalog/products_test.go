package catalog_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

func TestProductLifecycle(t *testing.T) {
	h := newHarness(t, nil)
	seller := authntest.Seller()

	p := h.create(seller, sampleProduct("  Netflix Premium  "))
	if p.SellerID != seller.UserID || p.Title != "Netflix Premium" || p.TermsVersion != 1 || p.Version != 1 ||
		p.SeatsTaken != 0 || !slices.Equal(p.Tags, []string{"video", "family"}) {
		t.Fatalf("created %+v", p)
	}
	got, err := h.cat.GetProduct(anon(), p.ID)
	if err != nil || got.Title != p.Title || !got.CreatedAt.Equal(p.CreatedAt) || got.PriceAmount != 5900 {
		t.Fatalf("get: %+v, %v", got, err)
	}

	// A price change is a change; the terms stay at version 1.
	up, err := h.cat.UpdateProduct(h.as(seller), contracts.UpdateProductRequest{ID: p.ID, PriceAmount: ptr(int64(6900)), ExpectedVersion: 1})
	if err != nil || up.PriceAmount != 6900 || up.Version != 2 || up.TermsVersion != 1 {
		t.Fatalf("update price: %+v, %v", up, err)
	}
	// New terms move the terms version.
	up, err = h.cat.UpdateProduct(h.as(seller), contracts.UpdateProductRequest{ID: p.ID, Terms: ptr("Cancel within 7 days for a refund.")})
	if err != nil || up.TermsVersion != 2 || up.Version != 3 {
		t.Fatalf("update terms: %+v, %v", up, err)
	}
	// Setting the same values again changes nothing: no version, no event.
	same, err := h.cat.UpdateProduct(h.as(seller), contracts.UpdateProductRequest{ID: p.ID, Terms: ptr("Cancel within 7 days for a refund.  "), PriceAmount: ptr(int64(6900))})
	if err != nil || same.Version != 3 || same.TermsVersion != 2 {
		t.Fatalf("no-op update: %+v, %v", same, err)
	}
	// A stale expected version is a conflict.
	_, err = h.cat.UpdateProduct(h.as(seller), contracts.UpdateProductRequest{ID: p.ID, Title: ptr("x"), ExpectedVersion: 1})
	moatest.WantError(t, err, contracts.ErrConflict, "")

	if err := h.cat.DeleteProduct(h.as(seller), p.ID); err != nil {
		t.Fatal(err)
	}
	_, err = h.cat.GetProduct(anon(), p.ID)
	moatest.WantError(t, err, contracts.ErrNotFound, "")
	err = h.cat.DeleteProduct(h.as(seller), p.ID)
	moatest.WantError(t, err, contracts.ErrNotFound, "")
	_, err = h.cat.UpdateProduct(h.as(seller), contracts.UpdateProductRequest{ID: p.ID, Title: ptr("back")})
	moatest.WantError(t, err, contracts.ErrNotFound, "")

	// The outbox published exactly the events of the committed changes, keyed by product.
	all := h.WaitEvents(h.t, "evt.catalog.*."+p.ID, 5)
	var types []string
	for _, e := range all {
		types = append(types, e.Type)
		if e.Key != p.ID || e.Source != "catalog" {
			t.Fatalf("event %+v", e)
		}
	}
	want := []string{"catalog.product_created", "catalog.product_changed", "catalog.product_changed", "catalog.product_terms_changed", "catalog.product_deleted"}
	if !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	var changed contracts.ProductChangedData
	if err := json.Unmarshal(all[1].Data, &changed); err != nil || !slices.Equal(changed.Changed, []string{"price_amount"}) || changed.Product.PriceAmount != 6900 {
		t.Fatalf("product_changed data %+v, %v", changed, err)
	}
	var terms contracts.ProductTermsChangedData
	if err := json.Unmarshal(all[3].Data, &terms); err != nil || terms.TermsVersion != 2 || terms.PreviousVersion != 1 || terms.Terms != "Cancel within 7 days for a refund." {
		t.Fatalf("terms data %+v, %v", terms, err)
	}
}

func TestCapacityAndSeats(t *testing.T) {
	h := newHarness(t, nil)
	seller := authntest.Seller()
	p := h.create(seller, sampleProduct("Spotify Family"))
	// Seats are taken by the subscription saga (issue 5); here directly in the database.
	if _, err := h.Postgres.Exec(t.Context(), `UPDATE products SET seats_taken = 3 WHERE id = $1`, p.ID); err != nil {
		t.Fatal(err)
	}
	_, err := h.cat.UpdateProduct(h.as(seller), contracts.UpdateProductRequest{ID: p.ID, Capacity: ptr(2)})
	moatest.WantError(t, err, contracts.ErrConflict, "")
	up, err := h.cat.UpdateProduct(h.as(seller), contracts.UpdateProductRequest{ID: p.ID, Capacity: ptr(3)})
	if err != nil || up.Capacity != 3 || up.SeatsTaken != 3 {
		t.Fatalf("capacity 3: %+v, %v", up, err)
	}
	err = h.cat.DeleteProduct(h.as(seller), p.ID)
	moatest.WantError(t, err, contracts.ErrConflict, "")
	// The database refuses overselling whatever the code does.
	if _, err := h.Postgres.Exec(t.Context(), `UPDATE products SET seats_taken = 4 WHERE id = $1`, p.ID); err == nil {
		t.Fatal("seats_taken above capacity was accepted")
	}
}
