package catalog_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
)

// seed inserts n products straight into the catalog's database (fast, and no events: the
// benchmark measures reads).
func (h *harness) seed(n int) {
	h.t.Helper()
	_, err := h.Postgres.Exec(h.t.Context(), `
		INSERT INTO products (id, seller_id, title, description, price_amount, currency, billing_period, terms,
			capacity, tags, image_urls, views, created_at, updated_at)
		SELECT gen_random_uuid(), 'seller-' || (i % 50), 'Product ' || i, repeat('A fine subscription. ', 20),
			1000 + (i * 37) % 50000, 'KRW', 'monthly', 'Terms.', 10,
			ARRAY['tag' || (i % 10), 'all'], ARRAY['https://img.example.test/' || i || '.png'], (i * 13) % 1000,
			now() - make_interval(secs => i), now()
		FROM generate_series(1, $1) AS i`, n)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.Postgres.Exec(h.t.Context(), `ANALYZE products`); err != nil {
		h.t.Fatal(err)
	}
}

// BenchmarkListProducts measures list_products through the bus, with the KV cache and with the
// cache off, over 10 000 products and ten different first pages of 20 (by tag and sort).
func BenchmarkListProducts(b *testing.B) {
	for _, mode := range []struct {
		name string
		ttl  string
	}{{"cached", "10m"}, {"uncached", "0"}} {
		b.Run(mode.name, func(b *testing.B) {
			h := newHarness(b, map[string]string{"CACHE_TTL": mode.ttl})
			h.seed(10_000)
			sorts := []contracts.ProductSort{contracts.SortNewest, contracts.SortPriceAsc, contracts.SortPopular, contracts.SortPriceDesc, contracts.SortNewest}
			var reqs []contracts.ListProductsRequest
			for i := range 10 {
				reqs = append(reqs, contracts.ListProductsRequest{Tag: fmt.Sprint("tag", i), Sort: sorts[i%len(sorts)], Limit: 20})
			}
			for _, r := range reqs { // warm the cache (and the database's buffers, for fairness)
				if _, err := h.cat.ListProducts(anon(), r); err != nil {
					b.Fatal(err)
				}
			}
			lat := make([]time.Duration, 0, 4096)
			i := 0
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				page, err := h.cat.ListProducts(anon(), reqs[i%len(reqs)])
				lat = append(lat, time.Since(start))
				if err != nil || len(page.Items) != 20 {
					b.Fatalf("%d items, %v", len(page.Items), err)
				}
				i++
			}
			b.StopTimer()
			reportPercentiles(b, lat)
		})
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds())
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
