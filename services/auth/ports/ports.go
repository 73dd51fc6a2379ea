// Package ports exposes the auth service's use cases as NATS endpoints through bus.
package ports

import (
	"context"
	"errors"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/auth/app"
)

// Register adds every auth endpoint to svc. Request shapes and field rules are enforced by
// bus (strict decoding and the request types' Validate) before a handler runs, and so is who
// may call (declared in contracts), with tokens verified by the service's own keys.
func Register(svc *bus.Service, a *app.Service) error {
	svc.UseVerifier(a.Keys().Verifier())
	return errors.Join(
		bus.Handle(svc, contracts.AuthSignup, a.Signup),
		bus.Handle(svc, contracts.AuthLogin, a.Login),
		bus.Handle(svc, contracts.AuthRefresh, a.Refresh),
		bus.Handle(svc, contracts.AuthLogout, func(ctx context.Context, req contracts.LogoutRequest) (contracts.Empty, error) {
			return contracts.Empty{}, a.Logout(ctx, req)
		}),
		bus.Handle(svc, contracts.AuthMe, func(ctx context.Context, _ contracts.Empty) (contracts.User, error) {
			p, _ := bus.Caller(ctx)
			return a.Me(ctx, p.UserID)
		}),
		bus.Handle(svc, contracts.AuthOperatorToken, a.OperatorToken),
		bus.Handle(svc, contracts.AuthKeys, func(ctx context.Context, _ contracts.Empty) (contracts.KeySet, error) {
			return a.Keys().Set(ctx)
		}),
	)
}
