package adapters

import (
	"context"

	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/subscription/app"
)

// Catalog reads products through the catalog's typed client.
type Catalog struct{ c *client.CatalogClient }

var _ app.Catalog = Catalog{}

// NewCatalog returns the catalog adapter.
func NewCatalog(c *client.CatalogClient) Catalog { return Catalog{c: c} }

// Product returns the product: the price and seller a subscription snapshots.
func (c Catalog) Product(ctx context.Context, id string) (contracts.Product, error) {
	return c.c.GetProduct(ctx, id)
}
