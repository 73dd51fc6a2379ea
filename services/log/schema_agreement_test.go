package log_test

import (
	"testing"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/contracts/schemagen/requestgen"
)

// TestGeneratedRequestsAgreeWithTheService sends the requests generated from the schemas
// (contracts/schemagen/requestgen) to a running log service as raw JSON, anonymously and as a
// signed-in reader: each request valid by the schema is accepted (not_found for a post the log
// does not know is past validation), each invalid one is refused naming its field.
func TestGeneratedRequestsAgreeWithTheService(t *testing.T) {
	h := newHarness(t, nil)
	eps := []contracts.EndpointInfo{contracts.LogRecordView.Info(), contracts.LogPostStats.Info(), contracts.LogPopularNow.Info()}
	sent := requestgen.Against(t, ctxT(t), h.Runtime, eps, nil)
	sent += requestgen.Against(t, h.As(ctxT(t), authntest.Consumer()), h.Runtime, eps, nil)
	t.Logf("%d generated requests sent", sent)
	if errs := h.errs.Errors(); len(errs) > 0 {
		t.Fatalf("generated requests logged at ERROR: %q", errs)
	}
}
