package subscription_test

import (
	"context"
	"testing"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/subscription"
)

// TestOperatorEndpointsNeedTheOperatorRole: being on the bus is not enough for
// subscription.stuck and subscription.rebuild_dashboard; they take an operator token. That
// auth issues one only for its operator secret is auth's TestOperatorTokensNeedTheSecret.
func TestMain(m *testing.M) { moatest.Main(m) }

func TestOperatorEndpointsNeedTheOperatorRole(t *testing.T) {
	s := moatest.Service(t, subscription.Start, moatest.With{Postgres: true, Declared: subscription.Settings})
	call := func(ctx context.Context) (error, error) {
		_, errStuck := s.Client.Subscription.Stuck(ctx, contracts.StuckSagasRequest{})
		_, errRebuild := s.Client.Subscription.RebuildDashboard(ctx)
		return errStuck, errRebuild
	}
	stuck, rebuild := call(t.Context())
	moatest.WantError(t, stuck, contracts.ErrUnauthenticated, "", "stuck without a token")
	moatest.WantError(t, rebuild, contracts.ErrUnauthenticated, "", "rebuild without a token")
	for _, p := range []contracts.Principal{authntest.Consumer(), authntest.Seller()} {
		stuck, rebuild = call(s.As(t.Context(), p))
		moatest.WantError(t, stuck, contracts.ErrForbidden, "", "stuck as a %s", p.Role)
		moatest.WantError(t, rebuild, contracts.ErrForbidden, "", "rebuild as a %s", p.Role)
	}
	if stuck, rebuild = call(s.As(t.Context(), authntest.Operator())); stuck != nil || rebuild != nil {
		t.Fatalf("as the operator: stuck %v, rebuild %v", stuck, rebuild)
	}
}
