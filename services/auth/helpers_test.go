package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/auth"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// harness is one auth instance on the service kit (real NATS and PostgreSQL), driven through
// the typed client. Auth serves its own keys, so the kit starts no test issuer.
type harness struct {
	*moatest.Kit[*auth.Component]
	t testing.TB
}

// settings are MOA_AUTH_* values without the prefix.
type settings map[string]string

func newHarness(t testing.TB, s settings) *harness {
	t.Helper()
	k := moatest.Service(t, auth.StartComponent, moatest.With{Postgres: true, NoIssuer: true, Settings: s, Declared: auth.Settings})
	return &harness{Kit: k, t: t}
}

// env is the harness's Env on rt (nil: no bus, as operator commands run) with settings s.
func (h *harness) env(rt *bus.Runtime, s settings) bus.Env {
	e := h.Env
	e.Runtime, e.Setting = rt, func(k string) string { return s[k] }
	return e
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// signup creates an account with a unique email and returns it with its password.
func (h *harness) signup(role contracts.Role) (contracts.User, string) {
	h.t.Helper()
	pw := "pw-" + strings.Repeat("x", 8)
	u, err := h.Client.Auth.Signup(ctx(h.t), contracts.SignupRequest{
		Email: "user-" + uuid.NewString()[:13] + "@example.com", Password: pw, Role: role, DisplayName: "User",
	})
	if err != nil {
		h.t.Fatalf("signup: %v", err)
	}
	return u, pw
}

func (h *harness) login(email, pw string) contracts.Session {
	h.t.Helper()
	s, err := h.Client.Auth.Login(ctx(h.t), email, pw)
	if err != nil {
		h.t.Fatalf("login %s: %v", email, err)
	}
	return s
}
