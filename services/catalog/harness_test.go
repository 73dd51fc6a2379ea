package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/catalog"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// harness is one catalog instance on real NATS and PostgreSQL, driven through the typed client.
type harness struct {
	t   testing.TB
	rt  *bus.Runtime
	iss *authntest.Issuer
	cat *client.CatalogClient
	pg  string        // the catalog's own database
	pgp *pgxpool.Pool // a pool on it, for tests that look or change behind the service's back
}

func newHarness(t testing.TB, settings map[string]string) *harness {
	t.Helper()
	nc := moatest.NATS(t).Conn(t)
	rt, err := bus.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	})
	h := &harness{t: t, rt: rt, iss: authntest.NewIssuer(t, rt), cat: client.New(rt.Client()).Catalog, pg: moatest.Postgres(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if h.pgp, err = pgxpool.New(context.Background(), h.pg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.pgp.Close)
	comp, err := catalog.Start(ctx, bus.Env{Runtime: rt, PostgresURL: h.pg, Setting: func(k string) string { return settings[k] }, Declared: catalog.Settings})
	if err != nil {
		t.Fatalf("catalog.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := comp.Stop(ctx); err != nil {
			t.Errorf("catalog stop: %v", err)
		}
	})
	return h
}

// as returns a context carrying p's access token.
func (h *harness) as(p contracts.Principal) context.Context {
	return h.iss.Context(context.Background(), p)
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

// events returns the envelopes stored on the CATALOG stream whose subject matches filter
// (NATS wildcards), in stream order.
func (h *harness) events(filter string) []contracts.Envelope {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := h.rt.JetStream().OrderedConsumer(ctx, contracts.StreamCatalog.Name, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []contracts.Envelope
	for {
		batch, err := c.FetchNoWait(100)
		if err != nil {
			h.t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var env contracts.Envelope
			if err := json.Unmarshal(m.Data(), &env); err != nil {
				h.t.Fatal(err)
			}
			out = append(out, env)
		}
		if n == 0 {
			return out
		}
	}
}

// waitEvents waits until exactly n events match filter and returns them.
func (h *harness) waitEvents(filter string, n int) []contracts.Envelope {
	h.t.Helper()
	var got []contracts.Envelope
	moatest.Eventually(h.t, 15*time.Second, func() bool { got = h.events(filter); return len(got) >= n },
		"%d events on %s", n, filter)
	if len(got) != n {
		h.t.Fatalf("%d events on %s, want %d", len(got), filter, n)
	}
	return got
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
		c, err := h.rt.JetStream().Consumer(ctx, contracts.StreamCatalog.Name, "catalog_cache_invalidation")
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
	if err := h.pgp.QueryRow(ctx, `SELECT count(*) FROM moa_outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errors.New("outbox rows not yet published")
	}
	return nil
}

// wantErr fails unless err is the catalogue error want on field (field "" = any).
func wantErr(t testing.TB, err error, want *contracts.Error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", want.Code)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want code %s", err, want.Code)
	}
	var ce *contracts.Error
	if field != "" && (!errors.As(err, &ce) || ce.Field != field) {
		t.Fatalf("error %v names field %q, want %q", err, ce.Field, field)
	}
}

func ptr[T any](v T) *T { return &v }
