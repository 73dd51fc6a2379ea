package auth_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/contracts/schemagen/requestgen"
)

// TestGeneratedRequestsAgreeWithTheService sends the requests generated from the schemas
// (contracts/schemagen/requestgen) to a running auth service as raw JSON: each request valid
// by the schema passes validation (a login may still be refused with invalid_credentials),
// each invalid one is refused naming its field. Every valid signup gets an email of its own,
// so that it creates an account instead of meeting already_exists.
func TestGeneratedRequestsAgreeWithTheService(t *testing.T) {
	h := newHarness(t, nil)
	sent := requestgen.Against(t, ctx(t), h.Runtime, []contracts.EndpointInfo{
		contracts.AuthSignup.Info(), contracts.AuthLogin.Info(), contracts.AuthRefresh.Info(), contracts.AuthLogout.Info(),
	}, func(subject string, body map[string]any) map[string]any {
		if e, ok := body["email"].(string); ok && subject == contracts.AuthSignup.Subject() && e == "mina@example.com" {
			body["email"] = "mina-" + strings.ReplaceAll(uuid.NewString()[:13], "-", "") + "@example.com"
		}
		return body
	})
	t.Logf("%d generated requests sent", sent)
}
