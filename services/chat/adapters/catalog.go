package adapters

import (
	"context"

	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/services/chat/app"
	"github.com/moa-run/moa/services/chat/domain"
)

// Catalog asks the catalog service about products, through its typed client. The caller's
// access token travels on ctx, as for any call made on a user's behalf.
type Catalog struct{ c *client.CatalogClient }

var _ app.Catalog = Catalog{}

// NewCatalog returns the catalog adapter over the typed client.
func NewCatalog(c *client.CatalogClient) Catalog { return Catalog{c: c} }

// Product returns what a room needs to know about product id.
func (c Catalog) Product(ctx context.Context, id string) (domain.Product, error) {
	p, err := c.c.GetProduct(ctx, id)
	if err != nil {
		return domain.Product{}, err
	}
	return domain.Product{ID: p.ID, SellerID: p.SellerID, Title: p.Title}, nil
}
