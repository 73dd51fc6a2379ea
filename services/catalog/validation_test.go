package catalog_test

import (
	"context"
	"strings"
	"testing"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// raw sends body as it is to an endpoint, for inputs the typed client cannot produce.
func raw[Req, Resp any](h *harness, ctx context.Context, ep contracts.Endpoint[Req, Resp], body string) error {
	_, err := h.Runtime.Client().Invoke(ctx, &bus.Request{Endpoint: ep.Info(), Data: []byte(body)})
	return err
}

func TestValidationErrors(t *testing.T) {
	h := newHarness(t, nil)
	seller := authntest.Seller()
	ctx := h.as(seller)
	p := h.create(seller, sampleProduct("Valid"))
	mod := func(f func(*contracts.CreateProductRequest)) func() error {
		return func() error {
			r := sampleProduct("Valid")
			f(&r)
			_, err := h.cat.CreateProduct(ctx, r)
			return err
		}
	}
	upd := func(r contracts.UpdateProductRequest) func() error {
		return func() error {
			if r.ID == "" {
				r.ID = p.ID
			}
			_, err := h.cat.UpdateProduct(ctx, r)
			return err
		}
	}
	list := func(r contracts.ListProductsRequest) func() error {
		return func() error { _, err := h.cat.ListProducts(anon(), r); return err }
	}
	search := func(r contracts.SearchProductsRequest) func() error {
		return func() error { _, err := h.cat.SearchProducts(anon(), r); return err }
	}
	long := func(n int) string { return strings.Repeat("가", n) }
	h.create(seller, sampleProduct("Second, for a next page"))
	otherSort, err := h.cat.ListProducts(anon(), contracts.ListProductsRequest{Limit: 1, Sort: contracts.SortPriceAsc})
	if err != nil || otherSort.NextCursor == "" {
		t.Fatalf("a page with a next cursor: %+v, %v", otherSort, err)
	}

	cases := []struct {
		name  string
		call  func() error
		code  *contracts.Error
		field string
	}{
		{"create: missing title", func() error {
			return raw(h, ctx, contracts.CatalogCreateProduct, `{"price_amount":1,"currency":"KRW","billing_period":"monthly","terms":"t","capacity":1}`)
		}, contracts.ErrValidation, "title"},
		{"create: missing capacity", func() error {
			return raw(h, ctx, contracts.CatalogCreateProduct, `{"title":"a","price_amount":1,"currency":"KRW","billing_period":"monthly","terms":"t"}`)
		}, contracts.ErrValidation, "capacity"},
		{"create: seller_id in the body", func() error {
			return raw(h, ctx, contracts.CatalogCreateProduct, `{"title":"a","price_amount":1,"currency":"KRW","billing_period":"monthly","terms":"t","capacity":1,"seller_id":"me"}`)
		}, contracts.ErrUnknownField, "seller_id"},
		{"create: price as a string", func() error {
			return raw(h, ctx, contracts.CatalogCreateProduct, `{"title":"a","price_amount":"9.99","currency":"KRW","billing_period":"monthly","terms":"t","capacity":1}`)
		}, contracts.ErrValidation, "price_amount"},
		{"create: malformed JSON", func() error { return raw(h, ctx, contracts.CatalogCreateProduct, `{"title":`) }, contracts.ErrBadRequest, ""},
		{"create: blank title", mod(func(r *contracts.CreateProductRequest) { r.Title = "   " }), contracts.ErrValidation, "title"},
		{"create: long title", mod(func(r *contracts.CreateProductRequest) { r.Title = long(121) }), contracts.ErrValidation, "title"},
		{"create: control char in title", mod(func(r *contracts.CreateProductRequest) { r.Title = "a\x00b" }), contracts.ErrValidation, "title"},
		{"create: long description", mod(func(r *contracts.CreateProductRequest) { r.Description = long(4001) }), contracts.ErrValidation, "description"},
		{"create: negative price", mod(func(r *contracts.CreateProductRequest) { r.PriceAmount = -1 }), contracts.ErrValidation, "price_amount"},
		{"create: huge price", mod(func(r *contracts.CreateProductRequest) { r.PriceAmount = contracts.MaxPriceAmount + 1 }), contracts.ErrValidation, "price_amount"},
		{"create: lower-case currency", mod(func(r *contracts.CreateProductRequest) { r.Currency = "krw" }), contracts.ErrValidation, "currency"},
		{"create: long currency", mod(func(r *contracts.CreateProductRequest) { r.Currency = "KRWX" }), contracts.ErrValidation, "currency"},
		{"create: daily billing", mod(func(r *contracts.CreateProductRequest) { r.BillingPeriod = "daily" }), contracts.ErrValidation, "billing_period"},
		{"create: blank terms", mod(func(r *contracts.CreateProductRequest) { r.Terms = " \n " }), contracts.ErrValidation, "terms"},
		{"create: long terms", mod(func(r *contracts.CreateProductRequest) { r.Terms = long(20001) }), contracts.ErrValidation, "terms"},
		{"create: zero capacity", mod(func(r *contracts.CreateProductRequest) { r.Capacity = 0 }), contracts.ErrValidation, "capacity"},
		{"create: huge capacity", mod(func(r *contracts.CreateProductRequest) { r.Capacity = contracts.MaxCapacity + 1 }), contracts.ErrValidation, "capacity"},
		{"create: too many tags", mod(func(r *contracts.CreateProductRequest) { r.Tags = strings.Split("a b c d e f g h i j k", " ") }), contracts.ErrValidation, "tags"},
		{"create: tag with a space", mod(func(r *contracts.CreateProductRequest) { r.Tags = []string{"two words"} }), contracts.ErrValidation, "tags"},
		{"create: empty tag", mod(func(r *contracts.CreateProductRequest) { r.Tags = []string{""} }), contracts.ErrValidation, "tags"},
		{"create: long tag", mod(func(r *contracts.CreateProductRequest) { r.Tags = []string{long(33)} }), contracts.ErrValidation, "tags"},
		{"create: ftp image", mod(func(r *contracts.CreateProductRequest) { r.ImageURLs = []string{"ftp://example.test/a.png"} }), contracts.ErrValidation, "image_urls"},
		{"create: javascript image", mod(func(r *contracts.CreateProductRequest) { r.ImageURLs = []string{"javascript:alert(1)"} }), contracts.ErrValidation, "image_urls"},
		{"create: image without host", mod(func(r *contracts.CreateProductRequest) { r.ImageURLs = []string{"https:///a.png"} }), contracts.ErrValidation, "image_urls"},
		{"create: relative image", mod(func(r *contracts.CreateProductRequest) { r.ImageURLs = []string{"/a.png"} }), contracts.ErrValidation, "image_urls"},
		{"create: too many images", mod(func(r *contracts.CreateProductRequest) {
			r.ImageURLs = strings.Split(strings.Repeat("https://a.test/x ", 9), " ")[:9]
		}), contracts.ErrValidation, "image_urls"},
		{"create: long image URL", mod(func(r *contracts.CreateProductRequest) {
			r.ImageURLs = []string{"https://a.test/" + strings.Repeat("x", 1024)}
		}), contracts.ErrValidation, "image_urls"},

		{"update: missing id", func() error { return raw(h, ctx, contracts.CatalogUpdateProduct, `{"title":"a"}`) }, contracts.ErrValidation, "id"},
		{"update: malformed id", upd(contracts.UpdateProductRequest{ID: "42", Title: ptr("a")}), contracts.ErrValidation, "id"},
		{"update: id with misplaced dashes", upd(contracts.UpdateProductRequest{ID: "0000000000000000000000000000000-----", Title: ptr("a")}), contracts.ErrValidation, "id"},
		{"update: nothing to change", upd(contracts.UpdateProductRequest{}), contracts.ErrValidation, ""},
		{"update: negative expected version", upd(contracts.UpdateProductRequest{Title: ptr("a"), ExpectedVersion: -1}), contracts.ErrValidation, "expected_version"},
		{"update: blank title", upd(contracts.UpdateProductRequest{Title: ptr("")}), contracts.ErrValidation, "title"},
		{"update: zero capacity", upd(contracts.UpdateProductRequest{Capacity: ptr(0)}), contracts.ErrValidation, "capacity"},
		{"update: bad currency", upd(contracts.UpdateProductRequest{Currency: ptr("12$")}), contracts.ErrValidation, "currency"},
		{"update: bad period", upd(contracts.UpdateProductRequest{BillingPeriod: ptr(contracts.BillingPeriod("hourly"))}), contracts.ErrValidation, "billing_period"},
		{"update: bad image", upd(contracts.UpdateProductRequest{ImageURLs: ptr([]string{"data:image/png;base64,AAAA"})}), contracts.ErrValidation, "image_urls"},
		{"update: bad tag", upd(contracts.UpdateProductRequest{Tags: ptr([]string{"a.b"})}), contracts.ErrValidation, "tags"},
		{"update: blank terms", upd(contracts.UpdateProductRequest{Terms: ptr("")}), contracts.ErrValidation, "terms"},
		{"update: long description", upd(contracts.UpdateProductRequest{Description: ptr(long(4001))}), contracts.ErrValidation, "description"},
		{"update: negative price", upd(contracts.UpdateProductRequest{PriceAmount: ptr(int64(-5))}), contracts.ErrValidation, "price_amount"},

		{"get: malformed id", func() error { _, err := h.cat.GetProduct(anon(), "../etc"); return err }, contracts.ErrValidation, "id"},
		{"get: empty id", func() error { _, err := h.cat.GetProduct(anon(), ""); return err }, contracts.ErrValidation, "id"},
		{"delete: malformed id", func() error { return h.cat.DeleteProduct(ctx, "x") }, contracts.ErrValidation, "id"},

		{"list: unknown sort", list(contracts.ListProductsRequest{Sort: "cheapest"}), contracts.ErrValidation, "sort"},
		{"list: limit too big", list(contracts.ListProductsRequest{Limit: 51}), contracts.ErrValidation, "limit"},
		{"list: negative limit", list(contracts.ListProductsRequest{Limit: -1}), contracts.ErrValidation, "limit"},
		{"list: price without currency", list(contracts.ListProductsRequest{MinPrice: ptr(int64(1))}), contracts.ErrValidation, "currency"},
		{"list: min above max", list(contracts.ListProductsRequest{Currency: "KRW", MinPrice: ptr(int64(10)), MaxPrice: ptr(int64(5))}), contracts.ErrValidation, "max_price"},
		{"list: negative min", list(contracts.ListProductsRequest{Currency: "KRW", MinPrice: ptr(int64(-1))}), contracts.ErrValidation, "min_price"},
		{"list: bad tag", list(contracts.ListProductsRequest{Tag: "a b"}), contracts.ErrValidation, "tag"},
		{"list: bad currency", list(contracts.ListProductsRequest{Currency: "won"}), contracts.ErrValidation, "currency"},
		{"list: garbage cursor", list(contracts.ListProductsRequest{Cursor: "!!not-a-cursor!!"}), contracts.ErrValidation, "cursor"},
		{"list: cursor of another sort", list(contracts.ListProductsRequest{Cursor: otherSort.NextCursor}), contracts.ErrValidation, "cursor"},
		{"list: cursor of other filters", list(contracts.ListProductsRequest{Sort: contracts.SortPriceAsc, Tag: "video", Cursor: otherSort.NextCursor}), contracts.ErrValidation, "cursor"},
		{"list: oversized cursor", list(contracts.ListProductsRequest{Cursor: strings.Repeat("a", 513)}), contracts.ErrValidation, "cursor"},

		{"search: missing query", func() error { return raw(h, anon(), contracts.CatalogSearchProducts, `{}`) }, contracts.ErrValidation, "query"},
		{"search: blank query", search(contracts.SearchProductsRequest{Query: "   "}), contracts.ErrValidation, "query"},
		{"search: long query", search(contracts.SearchProductsRequest{Query: long(101)}), contracts.ErrValidation, "query"},
		{"search: control char", search(contracts.SearchProductsRequest{Query: "a\tb"}), contracts.ErrValidation, "query"},
		{"search: limit too big", search(contracts.SearchProductsRequest{Query: "a", Limit: 100}), contracts.ErrValidation, "limit"},
		{"search: list cursor", search(contracts.SearchProductsRequest{Query: "a", Cursor: otherSort.NextCursor}), contracts.ErrValidation, "cursor"},

		{"view: malformed id", func() error { _, err := h.cat.ViewProduct(anon(), "nope", "v1"); return err }, contracts.ErrValidation, "id"},
		{"view: anonymous without viewer", func() error { _, err := h.cat.ViewProduct(anon(), p.ID, ""); return err }, contracts.ErrValidation, "viewer_id"},
		{"view: long viewer", func() error { _, err := h.cat.ViewProduct(anon(), p.ID, strings.Repeat("v", 129)); return err }, contracts.ErrValidation, "viewer_id"},

		{"popular: limit too big", func() error { _, err := h.cat.PopularProducts(anon(), contracts.PageRequest{Limit: 51}); return err }, contracts.ErrValidation, "limit"},
		{"popular: garbage cursor", func() error {
			_, err := h.cat.PopularProducts(anon(), contracts.PageRequest{Cursor: "e30"})
			return err
		}, contracts.ErrValidation, "cursor"},
		{"mine: negative limit", func() error { _, err := h.cat.MyProducts(ctx, contracts.PageRequest{Limit: -3}); return err }, contracts.ErrValidation, "limit"},
		{"mine: cursor of the public list", func() error {
			_, err := h.cat.MyProducts(ctx, contracts.PageRequest{Cursor: otherSort.NextCursor})
			return err
		}, contracts.ErrValidation, "cursor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { moatest.WantError(t, c.call(), c.code, c.field) })
	}

	// None of the rejected writes changed anything.
	got, err := h.cat.GetProduct(anon(), p.ID)
	if err != nil || got.Version != 1 || got.Title != "Valid" {
		t.Fatalf("product after rejected updates: %+v, %v", got, err)
	}
	mine, err := h.cat.MyProducts(ctx, contracts.PageRequest{})
	if err != nil || len(mine.Items) != 2 {
		t.Fatalf("my products after rejected creates: %d, %v", len(mine.Items), err)
	}
}
