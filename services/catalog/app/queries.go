package app

import (
	"context"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/catalog/domain"
)

// Page is one page of a product list. NextCursor is empty on the last page.
type Page struct {
	Items      []domain.Summary
	NextCursor string
}

// GetProduct reads one product through the cache.
func (a *App) GetProduct(ctx context.Context, id string) (domain.Product, error) {
	return a.cache.Product(ctx, id, func(ctx context.Context) (domain.Product, error) {
		return a.read.Get(ctx, id)
	})
}

// ListProducts reads one page of the public list through the cache.
func (a *App) ListProducts(ctx context.Context, q domain.ListQuery) (Page, error) {
	return a.cache.Page(ctx, q.CacheKey("list"), func(ctx context.Context) (Page, error) {
		return a.page(ctx, q)
	})
}

// PopularProducts is the list sorted by views, through the cache.
func (a *App) PopularProducts(ctx context.Context, limit int, cursor string) (Page, error) {
	q, err := domain.NewListQuery("", "", nil, nil, contracts.SortPopular, limit, cursor)
	if err != nil {
		return Page{}, err
	}
	return a.ListProducts(ctx, q)
}

// MyProducts lists the seller's own products, newest first, uncached: a seller expects to see
// the product they just published.
func (a *App) MyProducts(ctx context.Context, actor domain.Actor, limit int, cursor string) (Page, error) {
	if err := domain.RequireSeller(actor); err != nil {
		return Page{}, err
	}
	q, err := domain.NewSellerQuery(actor.UserID, limit, cursor)
	if err != nil {
		return Page{}, err
	}
	return a.page(ctx, q)
}

func (a *App) page(ctx context.Context, q domain.ListQuery) (Page, error) {
	rows, err := a.read.List(ctx, q)
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: rows}
	if len(rows) > q.Limit {
		page.Items = rows[:q.Limit]
		page.NextCursor = q.NextCursor(page.Items[q.Limit-1])
	}
	return page, nil
}

// SearchProducts searches by text. A signed-in user's first-page search is recorded as a
// catalog.searched event for the search-history service; failing to record it does not fail
// the search.
func (a *App) SearchProducts(ctx context.Context, userID string, q domain.SearchQuery) (Page, error) {
	rows, err := a.read.Search(ctx, q)
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: rows}
	if len(rows) > q.Limit {
		page.Items = rows[:q.Limit]
		page.NextCursor = q.NextCursor()
	}
	if userID != "" && q.Offset == 0 {
		if err := a.read.RecordSearch(ctx, userID, q.Text, a.now()); err != nil {
			a.log.Warn("recording a search", "user", userID, "error", err)
		}
	}
	return page, nil
}
