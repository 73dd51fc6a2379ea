// Package app holds the catalog's use cases: the commands that change products (through the
// domain's rules, with their events in the same transaction) and the queries that read them
// (through the cache). Storage, cache and dedup are interfaces implemented in adapters. It works
// on domain types and its own results (Page, ViewCount, SeatRequest); ports map them to and from
// the contracts' DTOs.
package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/moa-run/moa/services/catalog/domain"
)

// Products stores the aggregate. Update and Delete run fn on the locked current product inside
// one transaction, and write the events that describe the change in that transaction too.
type Products interface {
	Create(ctx context.Context, p domain.Product) error
	Update(ctx context.Context, id string, fn func(p *domain.Product) (domain.Change, error)) (domain.Product, error)
	Delete(ctx context.Context, id string, fn func(p *domain.Product) error) error
	// AddView adds one view and returns the new count (contracts.ErrNotFound when the product
	// does not exist or was deleted).
	AddView(ctx context.Context, id string) (int64, error)
	Views(ctx context.Context, id string) (int64, error)
}

// ReadModel answers the queries straight from the database.
type ReadModel interface {
	Get(ctx context.Context, id string) (domain.Product, error)
	// List returns up to q.Limit+1 rows, so the caller learns whether another page exists.
	List(ctx context.Context, q domain.ListQuery) ([]domain.Summary, error)
	Search(ctx context.Context, q domain.SearchQuery) ([]domain.Summary, error)
	// RecordSearch emits catalog.searched for a signed-in user's search.
	RecordSearch(ctx context.Context, userID, query string, at time.Time) error
}

// Cache is a read-through cache of product details and list pages. Its entries are dropped by
// Invalidate, which the catalog calls for each of its own change events.
type Cache interface {
	Product(ctx context.Context, id string, load func(context.Context) (domain.Product, error)) (domain.Product, error)
	Page(ctx context.Context, key string, load func(context.Context) (Page, error)) (Page, error)
	Invalidate(ctx context.Context, productID string) error
}

// Views deduplicates views: FirstView is true once per viewer key and product in its window.
type Views interface {
	FirstView(ctx context.Context, productID, viewerKey string) (bool, error)
	Forget(ctx context.Context, productID, viewerKey string) error
}

// App is the catalog's application service.
type App struct {
	products Products
	read     ReadModel
	cache    Cache
	views    Views
	newID    func() string
	now      func() time.Time
	log      *slog.Logger
}

// New wires the use cases.
func New(products Products, read ReadModel, cache Cache, views Views, newID func() string, log *slog.Logger) *App {
	return &App{products: products, read: read, cache: cache, views: views, newID: newID, now: time.Now, log: log}
}
