package subscription_test

import (
	"context"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/system/systemtest"
)

// TestOperatorEndpointsNeedTheOperatorRole: being on the bus is not enough for
// subscription.stuck and subscription.rebuild_dashboard; they take an operator token, which
// auth issues only for its operator secret.
func TestOperatorEndpointsNeedTheOperatorRole(t *testing.T) {
	const secret = "test-operator-secret-0123456789"
	sys := systemtest.Boot(t, systemtest.Services("auth", "subscription"), systemtest.Setting("auth", "OPERATOR_SECRET", secret))
	c := client.New(sys.Client())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	call := func(ctx context.Context) (error, error) {
		_, errStuck := c.Subscription.Stuck(ctx, contracts.StuckSagasRequest{})
		_, errRebuild := c.Subscription.RebuildDashboard(ctx)
		return errStuck, errRebuild
	}
	want := func(what string, got error, code *contracts.Error) {
		t.Helper()
		if got == nil || contracts.AsError(got).Code != code.Code {
			t.Errorf("%s: %v, want %s", what, got, code.Code)
		}
	}
	s, r := call(ctx)
	want("stuck without a token", s, contracts.ErrUnauthenticated)
	want("rebuild without a token", r, contracts.ErrUnauthenticated)

	if _, err := c.Auth.Signup(ctx, contracts.SignupRequest{Email: "op-test@example.com", Password: "violet staple 93 kettle",
		Role: contracts.RoleConsumer, DisplayName: "Not an operator"}); err != nil {
		t.Fatal(err)
	}
	sess, err := c.Auth.Login(ctx, "op-test@example.com", "violet staple 93 kettle")
	if err != nil {
		t.Fatal(err)
	}
	s, r = call(bus.WithAuthToken(ctx, sess.AccessToken))
	want("stuck as a consumer", s, contracts.ErrForbidden)
	want("rebuild as a consumer", r, contracts.ErrForbidden)

	_, err = bus.Call(ctx, sys.Client(), contracts.AuthOperatorToken, contracts.OperatorTokenRequest{Secret: secret + "x"})
	want("operator token for a wrong secret", err, contracts.ErrInvalidCredentials)
	op, err := bus.Call(ctx, sys.Client(), contracts.AuthOperatorToken, contracts.OperatorTokenRequest{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if s, r = call(bus.WithAuthToken(ctx, op.AccessToken)); s != nil || r != nil {
		t.Fatalf("as the operator: stuck %v, rebuild %v", s, r)
	}
}
