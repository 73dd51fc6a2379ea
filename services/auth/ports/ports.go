// Package ports exposes the auth service's use cases as NATS endpoints through bus. It is
// where the contracts' DTOs meet auth: requests are mapped to app types here, and accounts,
// sessions, tokens and keys to their wire form.
package ports

import (
	"context"
	"errors"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/auth/app"
	"github.com/moa-run/moa/services/auth/domain"
)

// Register adds every auth endpoint to svc. Request shapes and field rules are enforced by
// bus (strict decoding and the request types' Validate) before a handler runs, and so is who
// may call (declared in contracts), with tokens verified by the service's own keys.
func Register(svc *bus.Service, a *app.Service) error {
	svc.UseVerifier(a.Keys().Verifier())
	return errors.Join(
		bus.Handle(svc, contracts.AuthSignup, func(ctx context.Context, r contracts.SignupRequest) (contracts.User, error) {
			acc, err := a.Signup(ctx, app.SignupForm{Email: r.Email, Password: r.Password, Role: r.Role, DisplayName: r.DisplayName})
			if err != nil {
				return contracts.User{}, err
			}
			return userView(acc), nil
		}),
		bus.Handle(svc, contracts.AuthLogin, func(ctx context.Context, r contracts.LoginRequest) (contracts.Session, error) {
			return sessionView(a.Login(ctx, app.Credentials{Email: r.Email, Password: r.Password, ClientAddr: r.ClientAddr}))
		}),
		bus.Handle(svc, contracts.AuthRefresh, func(ctx context.Context, r contracts.RefreshRequest) (contracts.Session, error) {
			return sessionView(a.Refresh(ctx, r.RefreshToken))
		}),
		bus.Handle(svc, contracts.AuthLogout, func(ctx context.Context, r contracts.LogoutRequest) (contracts.Empty, error) {
			return contracts.Empty{}, a.Logout(ctx, r.RefreshToken, r.AllSessions)
		}),
		bus.Handle(svc, contracts.AuthMe, func(ctx context.Context, _ contracts.Empty) (contracts.User, error) {
			p, _ := bus.Caller(ctx)
			acc, err := a.Me(ctx, p.UserID)
			if err != nil {
				return contracts.User{}, err
			}
			return userView(acc), nil
		}),
		bus.Handle(svc, contracts.AuthOperatorToken, func(ctx context.Context, r contracts.OperatorTokenRequest) (contracts.OperatorToken, error) {
			t, err := a.OperatorToken(ctx, r.Secret)
			if err != nil {
				return contracts.OperatorToken{}, err
			}
			return contracts.OperatorToken{AccessToken: t.AccessToken, ExpiresAt: t.ExpiresAt}, nil
		}),
		bus.Handle(svc, contracts.AuthKeys, func(ctx context.Context, _ contracts.Empty) (contracts.KeySet, error) {
			keys, err := a.Keys().Published(ctx)
			if err != nil {
				return contracts.KeySet{}, err
			}
			// Keys is never null on the wire, even with no key published.
			set := contracts.KeySet{Keys: make([]contracts.JWK, 0, len(keys))}
			for _, k := range keys {
				set.Keys = append(set.Keys, authn.PublicJWK(k.ID, k.Public))
			}
			return set, nil
		}),
	)
}

// userView is an account as its owner sees it.
func userView(a domain.Account) contracts.User {
	return contracts.User{ID: a.ID, Email: a.Email, Role: a.Role, DisplayName: a.DisplayName, CreatedAt: a.CreatedAt}
}

// sessionView is a session's wire form, or the error.
func sessionView(s app.Session, err error) (contracts.Session, error) {
	if err != nil {
		return contracts.Session{}, err
	}
	return contracts.Session{AccessToken: s.AccessToken, TokenType: "Bearer", ExpiresAt: s.ExpiresAt,
		RefreshToken: s.RefreshToken, RefreshExpiresAt: s.RefreshExpiresAt, User: userView(s.Account)}, nil
}
