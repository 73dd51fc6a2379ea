package adapters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/catalog/app"
	"github.com/moa-run/moa/services/catalog/domain"
)

// Bucket names of the catalog's NATS KV state.
const (
	CacheBucket    = "catalog_cache"
	CacheGenBucket = "catalog_cache_gen"
	ViewsBucket    = "catalog_views"
)

// listsGen is the generation key shared by every list page: any product change can move a
// product into or out of any page.
const listsGen = "lists"

// Cache keeps product details and list pages in a NATS KV bucket with a TTL, so every catalog
// replica shares one cache.
//
// Invalidation is by generation, not by deleting entries: each cached value is stored under a
// key that names the generation of what it depends on (the product's, or the lists'), and
// Invalidate moves those generations forward (a Put in a second bucket; its revision is the
// generation). A reader that loaded a value from the database before an update committed but
// stores it after the invalidation therefore stores it under the old generation, where no later
// reader looks: deleting the entry instead would let that late store resurrect the stale value
// until the TTL. Old generations simply expire.
type Cache struct {
	kv  jetstream.KeyValue // values, with a TTL
	gen jetstream.KeyValue // generations, without a TTL: an expired generation would make old values current again
	log *slog.Logger
}

// NewCache creates or updates the cache buckets. ttl bounds how long a value lives; it is also
// how long a cached view count may lag.
func NewCache(ctx context.Context, js jetstream.JetStream, ttl time.Duration, replicas int, log *slog.Logger) (*Cache, error) {
	kv, err := ensureBucket(ctx, js, jetstream.KeyValueConfig{
		Bucket: CacheBucket, Description: "catalog read cache", TTL: ttl, History: 1,
		Storage: jetstream.FileStorage, Replicas: replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: cache bucket: %w", err)
	}
	gen, err := ensureBucket(ctx, js, jetstream.KeyValueConfig{
		Bucket: CacheGenBucket, Description: "catalog cache generations", History: 1,
		Storage: jetstream.FileStorage, Replicas: replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: cache generation bucket: %w", err)
	}
	return &Cache{kv: kv, gen: gen, log: log}, nil
}

// ensureBucket creates the bucket, or updates it when it exists with another configuration.
// Create first, not nats.go's CreateOrUpdateKeyValue (update, then create): in a cluster, two
// catalog replicas starting together each sent an update while the other's create was in
// flight, and neither got an answer (nats-server 2.15); an identical create answers at once.
func ensureBucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		return js.UpdateKeyValue(ctx, cfg)
	}
	return kv, err
}

// Product returns the cached product or loads and caches it. Entries hold the product's wire
// form (contracts.Product), as they did when the app returned it, so entries written by an
// earlier version read back the same.
func (c *Cache) Product(ctx context.Context, id string, load func(context.Context) (domain.Product, error)) (domain.Product, error) {
	v, err := readThrough(ctx, c, "p."+id, "p."+id, func(ctx context.Context) (contracts.Product, error) {
		p, err := load(ctx)
		return productWire(p), err
	})
	return productFromWire(v), err
}

// Page returns the cached list page under key (a digest of the query) or loads and caches it.
// Entries hold the page's wire form (contracts.ProductPage), like products.
func (c *Cache) Page(ctx context.Context, key string, load func(context.Context) (app.Page, error)) (app.Page, error) {
	v, err := readThrough(ctx, c, listsGen, "l."+key, func(ctx context.Context) (contracts.ProductPage, error) {
		p, err := load(ctx)
		return pageWire(p), err
	})
	return pageFromWire(v), err
}

// Invalidate moves the product's and the lists' generations forward.
func (c *Cache) Invalidate(ctx context.Context, productID string) error {
	if _, err := c.gen.Put(ctx, "p."+productID, nil); err != nil {
		return contracts.ErrUnavailable.Msg("cache invalidation: %v", err).Wrap(err)
	}
	if _, err := c.gen.Put(ctx, listsGen, nil); err != nil {
		return contracts.ErrUnavailable.Msg("cache invalidation: %v", err).Wrap(err)
	}
	return nil
}

// readThrough serves key at the current generation of genKey. When the cache cannot be read
// the value is loaded from the database: the cache makes reads cheaper, never unavailable.
func readThrough[T any](ctx context.Context, c *Cache, genKey, key string, load func(context.Context) (T, error)) (T, error) {
	g, err := c.generation(ctx, genKey)
	if err != nil {
		c.log.Warn("cache generation unreadable; reading the database", "key", genKey, "error", err)
		return load(ctx)
	}
	full := fmt.Sprintf("%s.g%d", key, g)
	if e, err := c.kv.Get(ctx, full); err == nil {
		var v T
		if json.Unmarshal(e.Value(), &v) == nil {
			return v, nil
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		c.log.Warn("cache read failed", "key", full, "error", err)
	}
	v, err := load(ctx)
	if err != nil {
		return v, err
	}
	if b, err := json.Marshal(v); err == nil {
		if _, err := c.kv.Put(ctx, full, b); err != nil {
			c.log.Warn("cache write failed", "key", full, "error", err)
		}
	}
	return v, nil
}

func (c *Cache) generation(ctx context.Context, key string) (uint64, error) {
	e, err := c.gen.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return e.Revision(), nil
}

// NoCache reads everything from the database; it stands in for Cache when caching is switched
// off (MOA_CATALOG_CACHE_TTL=0).
type NoCache struct{}

// Product loads the product.
func (NoCache) Product(ctx context.Context, _ string, load func(context.Context) (domain.Product, error)) (domain.Product, error) {
	return load(ctx)
}

// Page loads the page.
func (NoCache) Page(ctx context.Context, _ string, load func(context.Context) (app.Page, error)) (app.Page, error) {
	return load(ctx)
}

// Invalidate does nothing.
func (NoCache) Invalidate(context.Context, string) error { return nil }
