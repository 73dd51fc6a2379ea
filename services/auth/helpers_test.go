package auth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/auth"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// harness is one auth instance on real NATS and PostgreSQL, driven through the typed client.
type harness struct {
	t     testing.TB
	nats  *moatest.NATSServer
	pgURL string
	rt    *bus.Runtime
	comp  *auth.Component
	c     *client.Client
	db    *pgxpool.Pool
}

// settings are MOA_AUTH_* values without the prefix.
type settings map[string]string

func newHarness(t testing.TB, s settings) *harness {
	t.Helper()
	h := &harness{t: t, nats: moatest.NATS(t), pgURL: moatest.Postgres(t)}
	h.rt, h.comp = h.startInstance(s)
	h.c = client.New(h.rt.Client())
	db, err := pgxpool.New(context.Background(), h.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	h.db = db
	return h
}

func newRuntime(t testing.TB, n *moatest.NATSServer) *bus.Runtime {
	t.Helper()
	rt, err := bus.New(n.Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	})
	return rt
}

func env(rt *bus.Runtime, pgURL string, s settings) bus.Env {
	return bus.Env{Runtime: rt, PostgresURL: pgURL, Setting: func(k string) string { return s[k] }, Declared: auth.Settings,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// startInstance starts one more auth instance (a replica) on its own connection and the
// harness's database.
func (h *harness) startInstance(s settings) (*bus.Runtime, *auth.Component) {
	h.t.Helper()
	rt := newRuntime(h.t, h.nats)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	comp, err := auth.StartComponent(ctx, env(rt, h.pgURL, s))
	if err != nil {
		h.t.Fatalf("auth.Start: %v", err)
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := comp.Stop(ctx); err != nil {
			h.t.Errorf("auth stop: %v", err)
		}
	})
	return rt, comp
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
	u, err := h.c.Auth.Signup(ctx(h.t), contracts.SignupRequest{
		Email: "user-" + uuid.NewString()[:13] + "@example.com", Password: pw, Role: role, DisplayName: "User",
	})
	if err != nil {
		h.t.Fatalf("signup: %v", err)
	}
	return u, pw
}

func (h *harness) login(email, pw string) contracts.Session {
	h.t.Helper()
	s, err := h.c.Auth.Login(ctx(h.t), email, pw)
	if err != nil {
		h.t.Fatalf("login %s: %v", email, err)
	}
	return s
}

// wantErr asserts err is the catalogue error want, on field when field is not empty.
func wantErr(t testing.TB, err error, want *contracts.Error, field string) {
	t.Helper()
	var ce *contracts.Error
	if !errors.As(err, &ce) || ce.Code != want.Code {
		t.Fatalf("got %v, want %s", err, want.Code)
	}
	if field != "" && ce.Field != field {
		t.Fatalf("got %v on field %q, want field %q", err, ce.Field, field)
	}
}

func authClient(rt *bus.Runtime) *client.AuthClient { return client.New(rt.Client()).Auth }
