package sagasuite

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/billing"
	"github.com/moa-run/moa/services/catalog"
	"github.com/moa-run/moa/services/subscription"
)

// TestBadIDsAreValidationErrors (here because it boots three services; a service's own tests
// never import another): an id that is not a UUID is the caller's mistake. Every
// endpoint of the PostgreSQL services that takes one refuses it as validation_failed before
// it reaches the database, and nothing is logged at ERROR for it.
func TestBadIDsAreValidationErrors(t *testing.T) {
	var logs moatest.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := moatest.Service(t, subscription.Start, moatest.With{Postgres: true, Declared: subscription.Settings, Logger: log})
	// The other two on the same bus; the subscription kit's issuer signs for all three, so
	// they bring none of their own (two key servers would answer for different keys).
	on := moatest.With{NATS: s.NATS, Postgres: true, NoIssuer: true, Logger: log}
	moatest.Service(t, catalog.Start, withDeclared(on, catalog.Settings))
	moatest.Service(t, billing.Start, withDeclared(on, billing.Settings))
	c, ctx := s.Client, t.Context()
	consumer, seller := s.As(ctx, authntest.Consumer()), s.As(ctx, authntest.Seller())
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
			moatest.WantError(t, call(), contracts.ErrValidation, "", "%s(%q)", name, bad)
		}
	}
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("a client mistake was logged as an error: %s", line)
		}
	}
}

// withDeclared is w for the service declaring declared.
func withDeclared(w moatest.With, declared []bus.Setting) moatest.With {
	w.Declared = declared
	return w
}
