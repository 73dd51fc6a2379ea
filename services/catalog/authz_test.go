package catalog_test

import (
	"context"
	"testing"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

func TestAuthorization(t *testing.T) {
	h := newHarness(t, nil)
	owner, other, consumer := authntest.Seller(), authntest.Seller(), authntest.Consumer()
	p := h.create(owner, sampleProduct("Owned"))
	expired := bus.WithAuthToken(context.Background(), h.Issuer.Expired(owner))
	forged := bus.WithAuthToken(context.Background(), h.Issuer.Forged(owner))
	garbage := bus.WithAuthToken(context.Background(), "not.a.jwt")

	create := func(ctx context.Context) func() error {
		return func() error { _, err := h.cat.CreateProduct(ctx, sampleProduct("Intruder")); return err }
	}
	update := func(ctx context.Context) func() error {
		return func() error {
			_, err := h.cat.UpdateProduct(ctx, contracts.UpdateProductRequest{ID: p.ID, Title: ptr("Hijacked")})
			return err
		}
	}
	del := func(ctx context.Context) func() error { return func() error { return h.cat.DeleteProduct(ctx, p.ID) } }
	mine := func(ctx context.Context) func() error {
		return func() error { _, err := h.cat.MyProducts(ctx, contracts.PageRequest{}); return err }
	}
	search := func(ctx context.Context) func() error {
		return func() error {
			_, err := h.cat.SearchProducts(ctx, contracts.SearchProductsRequest{Query: "owned"})
			return err
		}
	}
	view := func(ctx context.Context) func() error {
		return func() error { _, err := h.cat.ViewProduct(ctx, p.ID, "visitor"); return err }
	}

	cases := []struct {
		name string
		call func() error
		want *contracts.Error
	}{
		{"create without a token", create(anon()), contracts.ErrUnauthenticated},
		{"create as a consumer", create(h.as(consumer)), contracts.ErrForbidden},
		{"create with an expired token", create(expired), contracts.ErrTokenExpired},
		{"create with a forged token", create(forged), contracts.ErrTokenInvalid},
		{"create with garbage for a token", create(garbage), contracts.ErrTokenInvalid},
		{"update without a token", update(anon()), contracts.ErrUnauthenticated},
		{"update as a consumer", update(h.as(consumer)), contracts.ErrForbidden},
		{"update as another seller", update(h.as(other)), contracts.ErrForbidden},
		{"update with an expired token", update(expired), contracts.ErrTokenExpired},
		{"delete without a token", del(anon()), contracts.ErrUnauthenticated},
		{"delete as a consumer", del(h.as(consumer)), contracts.ErrForbidden},
		{"delete as another seller", del(h.as(other)), contracts.ErrForbidden},
		{"delete with a forged token", del(forged), contracts.ErrTokenInvalid},
		{"my products without a token", mine(anon()), contracts.ErrUnauthenticated},
		{"my products as a consumer", mine(h.as(consumer)), contracts.ErrForbidden},
		// Public reads work anonymously, but a token that is present must be valid.
		{"search with an expired token", search(expired), contracts.ErrTokenExpired},
		{"view with a forged token", view(forged), contracts.ErrTokenInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { moatest.WantError(t, c.call(), c.want, "") })
	}

	got, err := h.cat.GetProduct(anon(), p.ID)
	if err != nil || got.Title != "Owned" || got.Version != 1 {
		t.Fatalf("after refused writes: %+v, %v", got, err)
	}
	if page, err := h.cat.MyProducts(h.as(other), contracts.PageRequest{}); err != nil || len(page.Items) != 0 {
		t.Fatalf("another seller's products: %+v, %v", page, err)
	}
	if err := search(anon())(); err != nil {
		t.Fatalf("anonymous search: %v", err)
	}
	if err := view(anon())(); err != nil {
		t.Fatalf("anonymous view: %v", err)
	}
	// The owner can.
	if err := del(h.as(owner))(); err != nil {
		t.Fatalf("owner delete: %v", err)
	}
}
