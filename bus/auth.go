package bus

import (
	"context"
	"strings"
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
