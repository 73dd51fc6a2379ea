package adapters_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/catalog/adapters"
	"github.com/moa-run/moa/services/catalog/app"
	"github.com/moa-run/moa/services/catalog/domain"
)

func newCache(t *testing.T) *adapters.Cache {
	t.Helper()
	js, err := jetstream.New(moatest.NATS(t).Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	c, err := adapters.NewCache(t.Context(), js, time.Minute, 1, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func loader(title string, calls *int) func(context.Context) (domain.Product, error) {
	return func(context.Context) (domain.Product, error) {
		*calls++
		return domain.Product{ID: "p1", Title: title}, nil
	}
}

func TestCacheReadThrough(t *testing.T) {
	c := newCache(t)
	ctx := t.Context()
	var calls int
	for range 3 {
		p, err := c.Product(ctx, "p1", loader("v1", &calls))
		if err != nil || p.Title != "v1" {
			t.Fatalf("%+v, %v", p, err)
		}
	}
	if calls != 1 {
		t.Fatalf("loaded %d times, want 1", calls)
	}
	if err := c.Invalidate(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if p, _ := c.Product(ctx, "p1", loader("v2", &calls)); p.Title != "v2" || calls != 2 {
		t.Fatalf("after invalidation %+v, %d loads", p, calls)
	}
	// Invalidating one product leaves another's entry alone but drops every list page.
	var other, pages int
	_, _ = c.Product(ctx, "p2", loader("p2", &other))
	page := func(context.Context) (app.Page, error) { pages++; return app.Page{}, nil }
	_, _ = c.Page(ctx, "k", page)
	_ = c.Invalidate(ctx, "p1")
	_, _ = c.Product(ctx, "p2", loader("p2", &other))
	_, _ = c.Page(ctx, "k", page)
	if other != 1 || pages != 2 {
		t.Fatalf("p2 loaded %d times (want 1), page %d times (want 2)", other, pages)
	}
}

// A reader that loaded a value before a change committed, and stores it only after the change
// was invalidated, must not make the old value current again.
func TestCacheLateStoreOfAStaleValue(t *testing.T) {
	c := newCache(t)
	ctx := t.Context()
	loaded, release := make(chan struct{}), make(chan struct{})
	done := make(chan domain.Product)
	go func() {
		p, _ := c.Product(ctx, "p1", func(context.Context) (domain.Product, error) {
			close(loaded) // read the database: the old title
			<-release     // ...and stall before storing it
			return domain.Product{ID: "p1", Title: "old"}, nil
		})
		done <- p
	}()
	<-loaded
	// Meanwhile the update commits and its event invalidates the product.
	if err := c.Invalidate(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	close(release)
	if p := <-done; p.Title != "old" {
		t.Fatalf("the slow reader got %q", p.Title)
	}
	var calls int
	p, err := c.Product(ctx, "p1", loader("new", &calls))
	if err != nil || p.Title != "new" || calls != 1 {
		t.Fatalf("read after invalidation: %+v (%d loads), %v; the late store resurrected the old value", p, calls, err)
	}
}

// Cache entries keep the wire form they had when the app returned contracts.Product, so that
// replicas of either version read each other's entries during a rolling deploy, and a product
// reads back from the cache exactly as it was loaded.
func TestCacheEntriesAreInWireForm(t *testing.T) {
	js, err := jetstream.New(moatest.NATS(t).Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	c, err := adapters.NewCache(ctx, js, time.Minute, 1, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := domain.Product{ID: "p1", SellerID: "s1", Title: "T", Description: "D", PriceAmount: 900, Currency: "KRW",
		BillingPeriod: contracts.BillingMonthly, Terms: "terms", TermsVersion: 2, Capacity: 3, SeatsTaken: 1,
		Tags: []string{"a"}, ImageURLs: []string{"https://x/1.png"}, Views: 7, Version: 4, CreatedAt: at, UpdatedAt: at.Add(time.Hour)}
	load := func(context.Context) (domain.Product, error) { return want, nil }
	if _, err := c.Product(ctx, "p1", load); err != nil {
		t.Fatal(err)
	}
	got, err := c.Product(ctx, "p1", func(context.Context) (domain.Product, error) {
		t.Fatal("loaded again: the entry was not cached")
		return domain.Product{}, nil
	})
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %+v, %v; want %+v", got, err, want)
	}
	kv, err := js.KeyValue(ctx, adapters.CacheBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "p.p1.g0")
	if err != nil {
		t.Fatal(err)
	}
	var wire contracts.Product
	if err := json.Unmarshal(e.Value(), &wire); err != nil || wire.SellerID != "s1" || wire.BillingPeriod != contracts.BillingMonthly || wire.TermsVersion != 2 {
		t.Fatalf("entry %s is not a contracts.Product: %+v, %v", e.Value(), wire, err)
	}
}

// Catalog replicas starting together on a cluster create the same R3 buckets at once; each must
// get an answer. With nats.go's CreateOrUpdateKeyValue (update, then create) two of three rounds
// answered no replica at all: an update that meets another's create in flight is not answered.
func TestBucketsCreatedByReplicasStartingTogether(t *testing.T) {
	cluster := moatest.NATSCluster(t, 3)
	const replicas = 3
	for round := range 3 {
		errs := make(chan error, replicas)
		release := make(chan struct{})
		for range replicas {
			js, err := jetstream.New(cluster.Conn(t))
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				<-release
				// nats.go's default API timeout: what a start waited before start-up steps retried.
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				_, err := adapters.NewCache(ctx, js, time.Minute, 3, slog.Default())
				if err == nil {
					_, err = adapters.NewViews(ctx, js, time.Hour, 3)
				}
				errs <- err
			}()
		}
		close(release)
		for range replicas {
			if err := <-errs; err != nil {
				t.Errorf("round %d: %v", round, err)
			}
		}
		js, err := jetstream.New(cluster.Conn(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range []string{adapters.CacheBucket, adapters.CacheGenBucket, adapters.ViewsBucket} {
			if err := js.DeleteKeyValue(t.Context(), b); err != nil {
				t.Fatalf("round %d: delete %s: %v", round, b, err)
			}
		}
	}
}
