package subscription_test

import (
	"context"
	"log/slog"
	"strings"
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

// TestBadIDsAreValidationErrors: an id that is not a UUID is the caller's mistake. Every
// endpoint of the PostgreSQL services that takes one refuses it as validation_failed before
// it reaches the database, and nothing is logged at ERROR for it.
func TestBadIDsAreValidationErrors(t *testing.T) {
	var logs moatest.Buffer
	sys := systemtest.Boot(t, systemtest.Services("auth", "catalog", "subscription", "billing"),
		systemtest.Configure(func(c *system.Config) {
			c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		}))
	c := client.New(sys.Client())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	token := func(role contracts.Role) context.Context {
		email := string(role) + "@ids.example.com"
		if _, err := c.Auth.Signup(ctx, contracts.SignupRequest{Email: email, Password: "violet staple 93 kettle", Role: role, DisplayName: "Ids"}); err != nil {
			t.Fatal(err)
		}
		s, err := c.Auth.Login(ctx, email, "violet staple 93 kettle")
		if err != nil {
			t.Fatal(err)
		}
		return bus.WithAuthToken(ctx, s.AccessToken)
	}
	consumer, seller := token(contracts.RoleConsumer), token(contracts.RoleSeller)
	for _, bad := range []string{"not-a-uuid", "1", "0190a6f2-7c3e-7cc4-b6a4-6f0e5d2d9a0g", "0190a6f2_7c3e_7cc4_b6a4_6f0e5d2d9a01"} {
		for name, call := range map[string]func() error{
			"subscription.get": func() error { _, err := c.Subscription.Get(consumer, bad); return err },
			"subscription.cancel": func() error {
				_, err := c.Subscription.Cancel(consumer, bad)
				return err
			},
			"subscription.subscribe": func() error {
				_, err := c.Subscription.Subscribe(consumer, bad, "")
				return err
			},
			"subscription.subscribers": func() error {
				_, err := c.Subscription.Subscribers(seller, bad)
				return err
			},
			"subscription.subscribers (service)": func() error {
				_, err := c.Subscription.Subscribers(ctx, bad)
				return err
			},
			"billing.payments":    func() error { _, err := c.Billing.Payments(consumer, bad); return err },
			"catalog.get_product": func() error { _, err := c.Catalog.GetProduct(ctx, bad); return err },
			"catalog.delete_product": func() error {
				return c.Catalog.DeleteProduct(seller, bad)
			},
		} {
			if err := call(); err == nil || contracts.AsError(err).Code != contracts.ErrValidation.Code {
				t.Errorf("%s(%q): %v, want validation_failed", name, bad, err)
			}
		}
	}
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("a client mistake was logged as an error: %s", line)
		}
	}
}
