package catalog_test

import (
	"testing"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/contracts/schemagen/requestgen"
)

// TestGeneratedRequestsAgreeWithTheService sends the requests generated from the schemas
// (contracts/schemagen/requestgen) to a running catalog as raw JSON, as a client written from
// the schemas would: each request valid by the schema is not refused as invalid (the service
// may still answer not_found or conflict), each invalid one is refused naming its field. Ids
// in the generated requests are replaced with a real product of the caller, so that update
// and view get past the lookup to the service's own checks.
func TestGeneratedRequestsAgreeWithTheService(t *testing.T) {
	h := newHarness(t, nil)
	seller := contracts.Principal{UserID: "7d3c1b2a-0000-4000-8000-000000000001", Role: contracts.RoleSeller, Email: "s@example.com", DisplayName: "S"}
	product := h.create(seller, sampleProduct("Agreement"))
	sent := requestgen.Against(t, h.as(seller), h.Runtime, []contracts.EndpointInfo{
		contracts.CatalogCreateProduct.Info(), contracts.CatalogUpdateProduct.Info(), contracts.CatalogGetProduct.Info(),
		contracts.CatalogListProducts.Info(), contracts.CatalogSearchProducts.Info(), contracts.CatalogViewProduct.Info(),
		contracts.CatalogPopularProducts.Info(), contracts.CatalogMyProducts.Info(),
	}, func(_ string, body map[string]any) map[string]any { return requestgen.WithID(body, product.ID) })
	t.Logf("%d generated requests sent", sent)
}
