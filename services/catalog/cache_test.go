package catalog_test

import (
	"testing"
	"time"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

func (h *harness) title(id string) string {
	h.t.Helper()
	p, err := h.cat.GetProduct(anon(), id)
	if err != nil {
		h.t.Fatalf("get %s: %v", id, err)
	}
	return p.Title
}

func (h *harness) listTitles(tag string) []string {
	h.t.Helper()
	page, err := h.cat.ListProducts(anon(), contracts.ListProductsRequest{Tag: tag})
	if err != nil {
		h.t.Fatalf("list: %v", err)
	}
	var out []string
	for _, it := range page.Items {
		out = append(out, it.Title)
	}
	return out
}

func TestCacheIsInvalidatedByChangeEvents(t *testing.T) {
	h := newHarness(t, nil)
	seller := authntest.Seller()
	r := sampleProduct("Original")
	r.Tags = []string{"cached"}
	p := h.create(seller, r)
	h.cacheSettled()

	if got := h.title(p.ID); got != "Original" {
		t.Fatalf("first read %q", got)
	}
	if got := h.listTitles("cached"); len(got) != 1 || got[0] != "Original" {
		t.Fatalf("first list %v", got)
	}
	// The reads are served from the cache: a change made behind the service's back (no event)
	// is not seen.
	if _, err := h.Postgres.Exec(t.Context(), `UPDATE products SET title = 'Behind its back' WHERE id = $1`, p.ID); err != nil {
		t.Fatal(err)
	}
	if got := h.title(p.ID); got != "Original" {
		t.Fatalf("cached read %q, want the cached Original", got)
	}
	if got := h.listTitles("cached"); len(got) != 1 || got[0] != "Original" {
		t.Fatalf("cached list %v", got)
	}

	// A change through the service emits product_changed, which invalidates both.
	if _, err := h.cat.UpdateProduct(h.as(seller), contracts.UpdateProductRequest{ID: p.ID, Title: ptr("Renamed")}); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 15*time.Second, func() bool { return h.title(p.ID) == "Renamed" }, "the detail shows the new title")
	moatest.Eventually(t, 15*time.Second, func() bool {
		got := h.listTitles("cached")
		return len(got) == 1 && got[0] == "Renamed"
	}, "the list shows the new title")

	// Once the invalidation event has been processed, no read returns an old value.
	h.cacheSettled()
	for i := range 50 {
		if got := h.title(p.ID); got != "Renamed" {
			t.Fatalf("read %d after invalidation: %q", i, got)
		}
		if got := h.listTitles("cached"); len(got) != 1 || got[0] != "Renamed" {
			t.Fatalf("list %d after invalidation: %v", i, got)
		}
	}

	// A deletion is seen the same way.
	if err := h.cat.DeleteProduct(h.as(seller), p.ID); err != nil {
		t.Fatal(err)
	}
	h.cacheSettled()
	for i := range 20 {
		if _, err := h.cat.GetProduct(anon(), p.ID); err == nil {
			t.Fatalf("read %d after deletion found the product", i)
		}
		if got := h.listTitles("cached"); len(got) != 0 {
			t.Fatalf("list %d after deletion: %v", i, got)
		}
	}
}

func TestCacheEntriesExpire(t *testing.T) {
	h := newHarness(t, map[string]string{"CACHE_TTL": "1s"})
	p := h.create(authntest.Seller(), sampleProduct("Short-lived"))
	h.cacheSettled()
	if got := h.title(p.ID); got != "Short-lived" {
		t.Fatal(got)
	}
	if _, err := h.Postgres.Exec(t.Context(), `UPDATE products SET title = 'Expired into view' WHERE id = $1`, p.ID); err != nil {
		t.Fatal(err)
	}
	moatest.Eventually(t, 15*time.Second, func() bool { return h.title(p.ID) == "Expired into view" }, "the entry expires after its TTL")
}

func TestCacheOff(t *testing.T) {
	h := newHarness(t, map[string]string{"CACHE_TTL": "0"})
	p := h.create(authntest.Seller(), sampleProduct("Uncached"))
	if got := h.title(p.ID); got != "Uncached" {
		t.Fatal(got)
	}
	if _, err := h.Postgres.Exec(t.Context(), `UPDATE products SET title = 'Seen at once' WHERE id = $1`, p.ID); err != nil {
		t.Fatal(err)
	}
	if got := h.title(p.ID); got != "Seen at once" {
		t.Fatalf("uncached read %q", got)
	}
}
