package catalog_test

import (
	"cmp"
	"fmt"
	"slices"
	"testing"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
)

// pageAll walks every page of a list and returns the ids in the order served.
func pageAll(t *testing.T, fetch func(cursor string) (contracts.ProductPage, error)) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 50 {
			t.Fatal("pagination does not end")
		}
		page, err := fetch(cursor)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		for _, it := range page.Items {
			ids = append(ids, it.ID)
		}
		if page.NextCursor == "" {
			return ids
		}
		cursor = page.NextCursor
	}
}

func TestListKeysetPagination(t *testing.T) {
	h := newHarness(t, nil)
	seller, other := authntest.Seller(), authntest.Seller()
	// Prices repeat so that the id tie-breaker decides order inside a price.
	prices := []int64{3000, 1000, 3000, 2000, 1000, 3000, 5000, 2000, 1000, 4000, 3000, 2000, 1000}
	var all []contracts.Product
	for i, price := range prices {
		r := sampleProduct(fmt.Sprintf("Product %02d", i))
		r.PriceAmount = price
		r.Tags = []string{"all"}
		if i%3 == 0 {
			r.Tags = append(r.Tags, "music")
		}
		if i == 12 {
			r.Currency = "USD"
		}
		who := seller
		if i%4 == 0 {
			who = other
		}
		all = append(all, h.create(who, r))
	}
	// View counts with ties, set where the saga of views would: in the database.
	for i, p := range all {
		if _, err := h.Postgres.Exec(t.Context(), `UPDATE products SET views = $2 WHERE id = $1`, p.ID, (i*7)%5); err != nil {
			t.Fatal(err)
		}
		all[i].Views = int64((i * 7) % 5)
	}
	// A deleted product never shows.
	gone := h.create(seller, sampleProduct("Deleted one"))
	if err := h.cat.DeleteProduct(h.as(seller), gone.ID); err != nil {
		t.Fatal(err)
	}

	ids := func(ps []contracts.Product) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.ID
		}
		return out
	}
	sorted := func(filter func(contracts.Product) bool, less func(a, b contracts.Product) int) []string {
		var ps []contracts.Product
		for _, p := range all {
			if filter(p) {
				ps = append(ps, p)
			}
		}
		slices.SortFunc(ps, less)
		return ids(ps)
	}
	every := func(contracts.Product) bool { return true }
	idDesc := func(a, b contracts.Product) int { return cmp.Compare(b.ID, a.ID) }
	byNewest := func(a, b contracts.Product) int { return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), idDesc(a, b)) }
	byPriceAsc := func(a, b contracts.Product) int {
		return cmp.Or(cmp.Compare(a.PriceAmount, b.PriceAmount), cmp.Compare(a.ID, b.ID))
	}
	byPriceDesc := func(a, b contracts.Product) int {
		return cmp.Or(cmp.Compare(b.PriceAmount, a.PriceAmount), idDesc(a, b))
	}
	byViews := func(a, b contracts.Product) int { return cmp.Or(cmp.Compare(b.Views, a.Views), idDesc(a, b)) }
	krwBetween := func(lo, hi int64) func(contracts.Product) bool {
		return func(p contracts.Product) bool {
			return p.Currency == "KRW" && p.PriceAmount >= lo && p.PriceAmount <= hi
		}
	}

	cases := []struct {
		name string
		req  contracts.ListProductsRequest
		want []string
	}{
		{"newest (default)", contracts.ListProductsRequest{Limit: 4}, sorted(every, byNewest)},
		{"price asc", contracts.ListProductsRequest{Limit: 4, Sort: contracts.SortPriceAsc}, sorted(every, byPriceAsc)},
		{"price desc", contracts.ListProductsRequest{Limit: 3, Sort: contracts.SortPriceDesc}, sorted(every, byPriceDesc)},
		{"popular", contracts.ListProductsRequest{Limit: 5, Sort: contracts.SortPopular}, sorted(every, byViews)},
		{"tag music", contracts.ListProductsRequest{Limit: 2, Tag: "MUSIC"}, sorted(func(p contracts.Product) bool { return slices.Contains(p.Tags, "music") }, byNewest)},
		{"KRW 1000..3000 by price", contracts.ListProductsRequest{Limit: 4, Sort: contracts.SortPriceAsc, Currency: "KRW", MinPrice: ptr(int64(1000)), MaxPrice: ptr(int64(3000))},
			sorted(krwBetween(1000, 3000), byPriceAsc)},
		{"KRW from 3000", contracts.ListProductsRequest{Limit: 50, Currency: "KRW", MinPrice: ptr(int64(3000))}, sorted(krwBetween(3000, 1<<40), byNewest)},
		{"USD", contracts.ListProductsRequest{Currency: "USD"}, sorted(func(p contracts.Product) bool { return p.Currency == "USD" }, byNewest)},
		{"unknown tag", contracts.ListProductsRequest{Tag: "nothing"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := pageAll(t, func(cursor string) (contracts.ProductPage, error) {
				r := c.req
				r.Cursor = cursor
				return h.cat.ListProducts(anon(), r)
			})
			if !slices.Equal(got, c.want) {
				t.Fatalf("served %v\nwant        %v", got, c.want)
			}
		})
	}

	t.Run("popular products", func(t *testing.T) {
		got := pageAll(t, func(cursor string) (contracts.ProductPage, error) {
			return h.cat.PopularProducts(anon(), contracts.PageRequest{Limit: 4, Cursor: cursor})
		})
		if want := sorted(every, byViews); !slices.Equal(got, want) {
			t.Fatalf("served %v\nwant        %v", got, want)
		}
	})
	t.Run("my products", func(t *testing.T) {
		got := pageAll(t, func(cursor string) (contracts.ProductPage, error) {
			return h.cat.MyProducts(h.as(other), contracts.PageRequest{Limit: 2, Cursor: cursor})
		})
		want := sorted(func(p contracts.Product) bool { return p.SellerID == other.UserID }, byNewest)
		if len(want) != 4 || !slices.Equal(got, want) {
			t.Fatalf("served %v\nwant        %v", got, want)
		}
	})
	t.Run("summaries carry the cover image and no terms", func(t *testing.T) {
		page, err := h.cat.ListProducts(anon(), contracts.ListProductsRequest{Limit: 1})
		if err != nil || len(page.Items) != 1 || page.Items[0].ImageURL != "https://img.example.test/a.png" || page.Items[0].Title == "" {
			t.Fatalf("%+v, %v", page, err)
		}
	})
}
