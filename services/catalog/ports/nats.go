// Package ports exposes the catalog on the bus: its request endpoints (with the caller's
// identity verified from the access token the request carries) and its event consumers. It maps
// the contracts' DTOs to and from domain and app types; the app never sees one.
package ports

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/catalog/app"
	"github.com/moa-run/moa/services/catalog/domain"
)

// Endpoints adapts the app to contracts: requests are mapped to domain and app types here, and
// results to their wire form (wire.go). It never reads a user id from a request body: the
// caller is who the verified token says.
type Endpoints struct {
	app *app.App
}

// Register adds every catalog endpoint to svc. Who may call what is declared in contracts and
// checked by the bus with v before a handler runs; the app checks that a product's writer is
// its seller.
func Register(svc *bus.Service, a *app.App, v *authn.Verifier) error {
	svc.UseVerifier(v)
	e := &Endpoints{app: a}
	for _, err := range []error{
		bus.Handle(svc, contracts.CatalogCreateProduct, e.create),
		bus.Handle(svc, contracts.CatalogUpdateProduct, e.update),
		bus.Handle(svc, contracts.CatalogDeleteProduct, e.delete),
		bus.Handle(svc, contracts.CatalogGetProduct, e.get),
		bus.Handle(svc, contracts.CatalogListProducts, e.list),
		bus.Handle(svc, contracts.CatalogSearchProducts, e.search),
		bus.Handle(svc, contracts.CatalogViewProduct, e.view),
		bus.Handle(svc, contracts.CatalogPopularProducts, e.popular),
		bus.Handle(svc, contracts.CatalogMyProducts, e.mine),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// actor is the caller the bus verified, or the zero (anonymous) actor. Endpoints open to
// anonymous callers and users alike (search, view) still have a token that is present
// verified by the bus: an expired one tells the client to refresh, rather than silently
// losing the user's identity.
func (e *Endpoints) actor(ctx context.Context) domain.Actor {
	p, _ := bus.Caller(ctx)
	return domain.Actor{UserID: p.UserID, Role: p.Role}
}

func (e *Endpoints) create(ctx context.Context, r contracts.CreateProductRequest) (contracts.Product, error) {
	a := e.actor(ctx)
	p, err := e.app.CreateProduct(ctx, a, domain.Fields{
		Title: r.Title, Description: r.Description, PriceAmount: r.PriceAmount, Currency: r.Currency,
		BillingPeriod: r.BillingPeriod, Terms: r.Terms, Capacity: r.Capacity, Tags: r.Tags, ImageURLs: r.ImageURLs,
	})
	if err != nil {
		return contracts.Product{}, err
	}
	return productView(p), nil
}

func (e *Endpoints) update(ctx context.Context, r contracts.UpdateProductRequest) (contracts.Product, error) {
	a := e.actor(ctx)
	p, err := e.app.UpdateProduct(ctx, a, r.ID, domain.Patch{
		Title: r.Title, Description: r.Description, PriceAmount: r.PriceAmount, Currency: r.Currency,
		BillingPeriod: r.BillingPeriod, Terms: r.Terms, Capacity: r.Capacity, Tags: r.Tags, ImageURLs: r.ImageURLs,
		ExpectedVersion: r.ExpectedVersion,
	})
	if err != nil {
		return contracts.Product{}, err
	}
	return productView(p), nil
}

func (e *Endpoints) delete(ctx context.Context, r contracts.ProductRef) (contracts.Empty, error) {
	a := e.actor(ctx)
	return contracts.Empty{}, e.app.DeleteProduct(ctx, a, r.ID)
}

func (e *Endpoints) get(ctx context.Context, r contracts.ProductRef) (contracts.Product, error) {
	p, err := e.app.GetProduct(ctx, r.ID)
	if err != nil {
		return contracts.Product{}, err
	}
	return productView(p), nil
}

func (e *Endpoints) list(ctx context.Context, r contracts.ListProductsRequest) (contracts.ProductPage, error) {
	q, err := domain.NewListQuery(r.Tag, r.Currency, r.MinPrice, r.MaxPrice, r.Sort, r.Limit, r.Cursor)
	if err != nil {
		return contracts.ProductPage{}, err
	}
	return pageView(e.app.ListProducts(ctx, q))
}

func (e *Endpoints) search(ctx context.Context, r contracts.SearchProductsRequest) (contracts.ProductPage, error) {
	a := e.actor(ctx)
	q, err := domain.NewSearchQuery(r.Query, r.Limit, r.Cursor)
	if err != nil {
		return contracts.ProductPage{}, err
	}
	return pageView(e.app.SearchProducts(ctx, a.UserID, q))
}

func (e *Endpoints) view(ctx context.Context, r contracts.ViewProductRequest) (contracts.ViewProductResponse, error) {
	a := e.actor(ctx)
	// User and visitor ids live in separate namespaces, so a visitor id cannot pose as a user.
	var viewer string
	switch {
	case a.UserID != "":
		viewer = "user:" + a.UserID
	case r.ViewerID != "":
		viewer = "visitor:" + r.ViewerID
	default:
		return contracts.ViewProductResponse{}, contracts.ErrValidation.OnField("viewer_id", "an anonymous view needs a viewer_id")
	}
	n, err := e.app.ViewProduct(ctx, r.ID, viewer)
	if err != nil {
		return contracts.ViewProductResponse{}, err
	}
	return contracts.ViewProductResponse{Views: n.Views, Counted: n.Counted}, nil
}

func (e *Endpoints) popular(ctx context.Context, r contracts.PageRequest) (contracts.ProductPage, error) {
	return pageView(e.app.PopularProducts(ctx, r.Limit, r.Cursor))
}

func (e *Endpoints) mine(ctx context.Context, r contracts.PageRequest) (contracts.ProductPage, error) {
	a := e.actor(ctx)
	return pageView(e.app.MyProducts(ctx, a, r.Limit, r.Cursor))
}
