package notify_test

import (
	"testing"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/contracts/schemagen/requestgen"
)

// TestGeneratedRequestsAgreeWithTheService sends the requests generated from the schemas
// (contracts/schemagen/requestgen) to a running notify service as raw JSON: each request valid
// by the schema is accepted, each invalid one is refused naming its field.
func TestGeneratedRequestsAgreeWithTheService(t *testing.T) {
	f := start(t)
	sent := requestgen.Against(t, f.as(authntest.Consumer()), f.Runtime, []contracts.EndpointInfo{
		contracts.NotifySince.Info(), contracts.NotifyList.Info(), contracts.NotifyMarkRead.Info(),
	}, nil)
	t.Logf("%d generated requests sent", sent)
}
