package systemtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
	"github.com/moa-run/moa/system/systemtest"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// The example: one call boots every service on throwaway infrastructure; the test then talks
// to the system the way any caller does, through the typed client over NATS.
func TestExampleSearchHistoryFollowsCatalogSearches(t *testing.T) {
	sys := systemtest.Boot(t)
	c := client.New(sys.Client())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if _, err := c.Auth.Signup(ctx, contracts.SignupRequest{
		Email: "ana@example.test", Password: "correct horse battery", Role: contracts.RoleConsumer, DisplayName: "Ana",
	}); err != nil {
		t.Fatal(err)
	}
	session, err := c.Auth.Login(ctx, "ana@example.test", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	asAna := bus.WithAuthToken(ctx, session.AccessToken)
	if _, err := c.Catalog.SearchProducts(asAna, contracts.SearchProductsRequest{Query: "music"}); err != nil {
		t.Fatal(err)
	}
	// The catalog emits catalog.searched through its outbox; the search service consumes it.
	moatest.Eventually(t, 30*time.Second, func() bool {
		recent, err := c.Search.Recent(asAna, 0)
		return err == nil && len(recent) == 1 && recent[0].Query == "music"
	}, "Ana's search in her recent searches")

	// Errors cross the wire as stable codes and come back as typed errors.
	if _, err := c.Auth.Login(ctx, "ana@example.test", "wrong password"); !errors.Is(err, contracts.ErrInvalidCredentials) {
		t.Errorf("login with a wrong password: %v, want %v", err, contracts.ErrInvalidCredentials)
	}
}

// The harness on its own: a service under test that is not registered yet, chosen with
// Services, configured with Setting and isolated from the developer's environment.
func TestBootHostsAServiceUnderTest(t *testing.T) {
	t.Setenv("MOA_PROBE_GREETING", "from the environment")
	var got bus.Env
	reg := map[string]system.Registration{
		"probe": {Postgres: true, Mongo: true, Start: func(_ context.Context, env bus.Env) (bus.Component, error) {
			got = env
			return nil, nil
		}},
		"other": {Start: func(context.Context, bus.Env) (bus.Component, error) {
			return nil, errors.New("other must not start")
		}},
	}
	sys := systemtest.Boot(t,
		systemtest.Configure(func(c *system.Config) { c.Registry = reg }),
		systemtest.Services("probe"),
		systemtest.Setting("probe", "greeting", "kia ora"),
	)
	if s := sys.Services(); len(s) != 1 || s[0] != "probe" {
		t.Errorf("started %v, want only probe", s)
	}
	if g := got.Setting("greeting"); g != "kia ora" {
		t.Errorf("setting greeting = %q, want the one given to Boot, not the environment's", g)
	}
	if got.PostgresURL == "" || got.MongoURL == "" || got.MongoDatabase == "" {
		t.Errorf("env = %+v: want its own PostgreSQL and MongoDB databases", got)
	}
	if r := sys.Ready(context.Background()); !r.Ready {
		t.Errorf("not ready: %+v", r.Checks)
	}
}
