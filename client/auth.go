package client

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// AuthClient calls the auth service. Me needs the caller's access token on ctx
// (bus.WithAuthToken); the other calls are anonymous by nature.
type AuthClient struct{ c *bus.Client }

// Signup creates an account.
func (a *AuthClient) Signup(ctx context.Context, req contracts.SignupRequest) (contracts.User, error) {
	return bus.Call(ctx, a.c, contracts.AuthSignup, req)
}

// Login exchanges credentials for a session (access and refresh tokens).
func (a *AuthClient) Login(ctx context.Context, email, password string) (contracts.Session, error) {
	return bus.Call(ctx, a.c, contracts.AuthLogin, contracts.LoginRequest{Email: email, Password: password})
}

// Refresh exchanges a refresh token for a new session; the old refresh token is spent.
func (a *AuthClient) Refresh(ctx context.Context, refreshToken string) (contracts.Session, error) {
	return bus.Call(ctx, a.c, contracts.AuthRefresh, contracts.RefreshRequest{RefreshToken: refreshToken})
}

// Logout ends the session of refreshToken.
func (a *AuthClient) Logout(ctx context.Context, refreshToken string) error {
	_, err := bus.Call(ctx, a.c, contracts.AuthLogout, contracts.LogoutRequest{RefreshToken: refreshToken})
	return err
}

// LogoutAll ends every session of the user refreshToken belongs to.
func (a *AuthClient) LogoutAll(ctx context.Context, refreshToken string) error {
	_, err := bus.Call(ctx, a.c, contracts.AuthLogout, contracts.LogoutRequest{RefreshToken: refreshToken, AllSessions: true})
	return err
}

// Me returns the account of the access token on ctx.
func (a *AuthClient) Me(ctx context.Context) (contracts.User, error) {
	return bus.Call(ctx, a.c, contracts.AuthMe, contracts.Empty{})
}

// Keys returns the public keys that verify access tokens.
func (a *AuthClient) Keys(ctx context.Context) (contracts.KeySet, error) {
	return bus.Call(ctx, a.c, contracts.AuthKeys, contracts.Empty{})
}
