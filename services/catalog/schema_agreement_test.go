package catalog_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/contracts/schemagen/requestgen"
)

// TestGeneratedRequestsAgreeWithTheService sends the requests generated from the schemas
// (contracts/schemagen/requestgen) to a running catalog as raw JSON, as a client written from
// the schemas would: each request valid by the schema is not refused as invalid (the service
// may still answer not_found or conflict), each invalid one is refused naming its field. The
// ids in the generated requests are replaced with a real product of the caller.
func TestGeneratedRequestsAgreeWithTheService(t *testing.T) {
	h := newHarness(t, nil)
	all, err := requestgen.Cases()
	if err != nil {
		t.Fatal(err)
	}
	seller := contracts.Principal{UserID: "7d3c1b2a-0000-4000-8000-000000000001", Role: contracts.RoleSeller, Email: "s@example.com", DisplayName: "S"}
	ctx := h.as(seller)
	cl := h.Runtime.NewClient("agreement")
	endpoints := []contracts.EndpointInfo{
		contracts.CatalogCreateProduct.Info(), contracts.CatalogUpdateProduct.Info(), contracts.CatalogGetProduct.Info(),
		contracts.CatalogListProducts.Info(), contracts.CatalogSearchProducts.Info(), contracts.CatalogViewProduct.Info(),
		contracts.CatalogPopularProducts.Info(), contracts.CatalogMyProducts.Info(),
	}
	sent := 0
	for _, ep := range endpoints {
		cases := all[ep.Subject]
		if len(cases) == 0 {
			t.Fatalf("no generated requests for %s", ep.Subject)
		}
		t.Run(ep.Subject, func(t *testing.T) {
			product := h.create(seller, sampleProduct("Agreement "+ep.Name)) // the real target of ids
			for _, c := range cases {
				body := withID(c.Body, product.ID)
				sent++
				if err := c.Check(callRaw(ctx, cl, ep, body), true); err != nil {
					t.Error(err)
				}
			}
		})
	}
	t.Logf("%d generated requests sent", sent)
}

// callRaw sends body to ep's subject and returns the service's error (nil: accepted). A
// refusal that is not about the request (not_found, conflict) counts as accepted here.
func callRaw(ctx context.Context, cl *bus.Client, info contracts.EndpointInfo, body map[string]any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ep := contracts.Endpoint[json.RawMessage, json.RawMessage]{Service: info.Service, Name: info.Name, Access: info.Access, Timeout: info.Timeout}
	_, err = bus.Call(ctx, cl, ep, json.RawMessage(raw), bus.NoRetry())
	if e := contracts.AsError(err); e != nil && e.Kind != contracts.KindInvalid {
		return nil
	}
	return err
}

// withID replaces the generator's example UUID with id.
func withID(body map[string]any, id string) map[string]any {
	out := make(map[string]any, len(body))
	for k, v := range body {
		if s, ok := v.(string); ok && s == requestgen.ExampleUUID {
			v = id
		}
		out[k] = v
	}
	return out
}
