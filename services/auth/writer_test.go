package auth_test

import (
	"testing"

	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
)

// A writer (the blog's post service) signs up like a seller, and its token carries the role;
// a role nobody declared is still refused.
func TestSignupWriter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	u, pw := h.signup(contracts.RoleWriter)
	if u.Role != contracts.RoleWriter {
		t.Fatalf("signed up as %q, want writer", u.Role)
	}
	s := h.login(u.Email, pw)
	p, err := authn.NewVerifier(h.Runtime.Client()).Verify(ctx(t), s.AccessToken)
	if err != nil || p.Role != contracts.RoleWriter {
		t.Fatalf("token principal %+v, %v; want role writer", p, err)
	}
	_, err = h.Client.Auth.Signup(ctx(t), contracts.SignupRequest{
		Email: "editor@example.com", Password: "pw-xxxxxxxx", Role: "editor", DisplayName: "Ed",
	})
	if ce := contracts.AsError(err); ce == nil || ce.Code != contracts.ErrValidation.Code || ce.Field != "role" {
		t.Fatalf("signup as editor: %v, want validation_failed on role", err)
	}
}
