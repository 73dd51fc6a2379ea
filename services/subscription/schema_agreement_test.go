package subscription_test

import (
	"testing"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/contracts/schemagen/requestgen"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/subscription"
)

// TestGeneratedRequestsAgreeWithTheService sends the requests generated from the schemas
// (contracts/schemagen/requestgen) to a running subscription service as raw JSON, each as a
// caller the endpoint admits: each request valid by the schema passes validation (it may then
// meet not_found, or no catalog to ask), each invalid one is refused naming its field.
func TestGeneratedRequestsAgreeWithTheService(t *testing.T) {
	s := moatest.Service(t, subscription.Start, moatest.With{Postgres: true, Declared: subscription.Settings})
	sent := requestgen.Against(t, s.As(t.Context(), authntest.Consumer()), s.Runtime, []contracts.EndpointInfo{
		contracts.SubscriptionSubscribe.Info(), contracts.SubscriptionGet.Info(), contracts.SubscriptionCancel.Info(),
	}, nil)
	sent += requestgen.Against(t, s.As(t.Context(), authntest.Seller()), s.Runtime, []contracts.EndpointInfo{contracts.SubscriptionSubscribers.Info()}, nil)
	sent += requestgen.Against(t, s.As(t.Context(), authntest.Operator()), s.Runtime, []contracts.EndpointInfo{contracts.SubscriptionStuck.Info()}, nil)
	t.Logf("%d generated requests sent", sent)
}
