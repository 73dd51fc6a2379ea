package billing_test

import (
	"testing"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/contracts/schemagen/requestgen"
)

// TestGeneratedRequestsAgreeWithTheService sends the requests generated from the schemas
// (contracts/schemagen/requestgen) to a running billing service as raw JSON: each request valid
// by the schema passes validation, each invalid one is refused naming its field.
func TestGeneratedRequestsAgreeWithTheService(t *testing.T) {
	h := newHarness(t, nil)
	sent := requestgen.Against(t, h.As(t.Context(), authntest.Consumer()), h.Runtime,
		[]contracts.EndpointInfo{contracts.BillingPayments.Info()}, nil)
	t.Logf("%d generated requests sent", sent)
}
