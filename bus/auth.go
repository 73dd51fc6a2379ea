package bus

import (
	"context"
	"strings"

	"github.com/moa-run/moa/contracts"
)

// HeaderAuthorization carries the end user's access token ("Bearer <jwt>") on requests, so
// that every service verifies the user itself (with keys from the auth service) instead of
// trusting whoever called it.
const HeaderAuthorization = "Authorization"

type tokenKey struct{}

// WithAuthToken returns a context whose calls carry token as the end user's credentials.
// A handler's context already carries the token of the request it serves, so calls made on
// behalf of that user propagate it without extra code.
func WithAuthToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// AuthToken returns the end user's access token carried by ctx, or "".
func AuthToken(ctx context.Context) string {
	s, _ := ctx.Value(tokenKey{}).(string)
	return s
}

// tokenFromHeader extracts the bearer token of a request.
func tokenFromHeader(h map[string][]string) string {
	v := headerCarrier(h).Get(HeaderAuthorization)
	if t, ok := strings.CutPrefix(v, "Bearer "); ok {
		return t
	}
	return ""
}

// TokenVerifier checks an access token and returns its principal (client/authn.Verifier is
// one). Errors are contracts errors: unauthenticated, token_expired, token_invalid, or
// unavailable when the keys to decide cannot be had.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (contracts.Principal, error)
}

type callerKey struct{}

// Caller returns the verified end user of the request a handler serves, as the access check
// (see [Authorize]) found it: ok is false for a request without a token, and for endpoints
// whose declaration admits no role (their tokens are not looked at).
func Caller(ctx context.Context) (p contracts.Principal, ok bool) {
	p, ok = ctx.Value(callerKey{}).(contracts.Principal)
	return p, ok
}

// WithCaller returns ctx with p as the verified caller; tests of handlers use it, the access
// check sets it for real requests.
func WithCaller(ctx context.Context, p contracts.Principal) context.Context {
	return context.WithValue(ctx, callerKey{}, p)
}
