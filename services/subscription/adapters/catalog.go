package adapters

import (
	"context"

	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/services/subscription/app"
	"github.com/moa-run/moa/services/subscription/domain"
)

// Catalog reads products through the catalog's typed client.
type Catalog struct{ c *client.CatalogClient }

var _ app.Catalog = Catalog{}

// NewCatalog returns the catalog adapter.
func NewCatalog(c *client.CatalogClient) Catalog { return Catalog{c: c} }

// Product returns the product: the price and seller a subscription snapshots.
func (c Catalog) Product(ctx context.Context, id string) (domain.Product, error) {
	p, err := c.c.GetProduct(ctx, id)
	if err != nil {
		return domain.Product{}, err
	}
	return domain.Product{ID: p.ID, SellerID: p.SellerID, PriceMinor: p.PriceAmount, Currency: p.Currency, Period: p.BillingPeriod}, nil
}
