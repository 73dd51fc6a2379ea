package catalog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/catalog"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// harness is one catalog instance on the service kit (real NATS and PostgreSQL), driven through
// the typed client.
type harness struct {
	*moatest.Kit[bus.Component]
	t   testing.TB
	cat *client.CatalogClient
}

func newHarness(t testing.TB, settings map[string]string) *harness {
	t.Helper()
	k := moatest.Service(t, catalog.Start, moatest.With{Postgres: true, Settings: settings, Declared: catalog.Settings})
	return &harness{Kit: k, t: t, cat: k.Client.Catalog}
}

// as returns a context carrying p's access token.
func (h *harness) as(p contracts.Principal) context.Context {
	return h.As(context.Background(), p)
}

func anon() context.Context { return context.Background() }

// sampleProduct is a valid create request; tests change what they need.
func sampleProduct(title string) contracts.CreateProductRequest {
	return contracts.CreateProductRequest{
		Title: title, Description: "A family plan shared by four.", PriceAmount: 5900, Currency: "KRW",
		BillingPeriod: contracts.BillingMonthly, Terms: "Cancel any time. No refunds for the current period.",
		Capacity: 4, Tags: []string{"Video", "family"}, ImageURLs: []string{"https://img.example.test/a.png"},
	}
}

func (h *harness) create(seller contracts.Principal, req contracts.CreateProductRequest) contracts.Product {
	h.t.Helper()
	p, err := h.cat.CreateProduct(h.as(seller), req)
	if err != nil {
		h.t.Fatalf("create %q: %v", req.Title, err)
	}
	return p
}

// cacheSettled waits until the cache consumer has processed every event on the stream.
func (h *harness) cacheSettled() {
	h.t.Helper()
	moatest.WaitFor(h.t, 15*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := h.outboxDrained(ctx); err != nil {
			return err
		}
		c, err := h.Runtime.JetStream().Consumer(ctx, contracts.StreamCatalog.Name, "catalog_cache_invalidation")
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return errors.New("cache consumer still has events to process")
		}
		return nil
	})
}

// outboxDrained reports an error while the outbox has unpublished rows.
func (h *harness) outboxDrained(ctx context.Context) error {
	var n int
	if err := h.Postgres.QueryRow(ctx, `SELECT count(*) FROM moa_outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errors.New("outbox rows not yet published")
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
