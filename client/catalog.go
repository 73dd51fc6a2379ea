package client

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// CatalogClient calls the catalog service. Writes and my_products need a seller's access token
// on ctx (bus.WithAuthToken); reads are public, and a signed-in caller's token makes search
// record the query in the caller's search history.
type CatalogClient struct{ c *bus.Client }

// CreateProduct publishes a product owned by the calling seller.
func (c *CatalogClient) CreateProduct(ctx context.Context, req contracts.CreateProductRequest) (contracts.Product, error) {
	return bus.Call(ctx, c.c, contracts.CatalogCreateProduct, req)
}

// UpdateProduct changes the fields req sets on one of the calling seller's products.
func (c *CatalogClient) UpdateProduct(ctx context.Context, req contracts.UpdateProductRequest) (contracts.Product, error) {
	return bus.Call(ctx, c.c, contracts.CatalogUpdateProduct, req)
}

// DeleteProduct deletes one of the calling seller's products.
func (c *CatalogClient) DeleteProduct(ctx context.Context, id string) error {
	_, err := bus.Call(ctx, c.c, contracts.CatalogDeleteProduct, contracts.ProductRef{ID: id})
	return err
}

// GetProduct returns one product.
func (c *CatalogClient) GetProduct(ctx context.Context, id string) (contracts.Product, error) {
	return bus.Call(ctx, c.c, contracts.CatalogGetProduct, contracts.ProductRef{ID: id})
}

// ListProducts returns one page of products; pass the previous page's NextCursor in req.Cursor
// for the next one.
func (c *CatalogClient) ListProducts(ctx context.Context, req contracts.ListProductsRequest) (contracts.ProductPage, error) {
	return bus.Call(ctx, c.c, contracts.CatalogListProducts, req)
}

// SearchProducts searches products by text.
func (c *CatalogClient) SearchProducts(ctx context.Context, req contracts.SearchProductsRequest) (contracts.ProductPage, error) {
	return bus.Call(ctx, c.c, contracts.CatalogSearchProducts, req)
}

// ViewProduct counts a view of product id by the signed-in caller, or by the anonymous
// visitor viewerID when ctx carries no token.
func (c *CatalogClient) ViewProduct(ctx context.Context, id, viewerID string) (contracts.ViewProductResponse, error) {
	return bus.Call(ctx, c.c, contracts.CatalogViewProduct, contracts.ViewProductRequest{ID: id, ViewerID: viewerID})
}

// PopularProducts returns the most viewed products.
func (c *CatalogClient) PopularProducts(ctx context.Context, req contracts.PageRequest) (contracts.ProductPage, error) {
	return bus.Call(ctx, c.c, contracts.CatalogPopularProducts, req)
}

// MyProducts returns the calling seller's products, newest first.
func (c *CatalogClient) MyProducts(ctx context.Context, req contracts.PageRequest) (contracts.ProductPage, error) {
	return bus.Call(ctx, c.c, contracts.CatalogMyProducts, req)
}
