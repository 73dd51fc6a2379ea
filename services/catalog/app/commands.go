package app

import (
	"context"

	"github.com/moa-run/moa/services/catalog/domain"
)

// CreateProduct publishes a product owned by actor.
func (a *App) CreateProduct(ctx context.Context, actor domain.Actor, f domain.Fields) (domain.Product, error) {
	p, err := domain.NewProduct(a.newID(), actor, f, a.now())
	if err != nil {
		return domain.Product{}, err
	}
	if err := a.products.Create(ctx, p); err != nil {
		return domain.Product{}, err
	}
	a.invalidateAfterWrite(ctx, p.ID)
	return p, nil
}

// UpdateProduct applies patch to the product if actor owns it.
func (a *App) UpdateProduct(ctx context.Context, actor domain.Actor, id string, patch domain.Patch) (domain.Product, error) {
	if err := domain.RequireSeller(actor); err != nil {
		return domain.Product{}, err
	}
	now := a.now()
	p, err := a.products.Update(ctx, id, func(p *domain.Product) (domain.Change, error) {
		return p.Apply(actor, patch, now)
	})
	if err == nil {
		a.invalidateAfterWrite(ctx, id)
	}
	return p, err
}

// DeleteProduct deletes the product if actor owns it and no seat is taken.
func (a *App) DeleteProduct(ctx context.Context, actor domain.Actor, id string) error {
	if err := domain.RequireSeller(actor); err != nil {
		return err
	}
	if err := a.products.Delete(ctx, id, func(p *domain.Product) error { return p.CheckDelete(actor) }); err != nil {
		return err
	}
	a.invalidateAfterWrite(ctx, id)
	return nil
}

// invalidateAfterWrite gives the writer read-your-writes: the cache is shared by every replica
// (it lives in NATS KV), so moving its generation right after the commit makes the next read
// anywhere miss it. The change-event consumer invalidates again, which covers a process that
// dies between its commit and this call.
func (a *App) invalidateAfterWrite(ctx context.Context, productID string) {
	if err := a.cache.Invalidate(context.WithoutCancel(ctx), productID); err != nil {
		a.log.Warn("invalidating after a write failed; the change event will", "product", productID, "error", err)
	}
}

// ViewCount is the outcome of a view: the product's count, and whether this view was counted.
type ViewCount struct {
	Views   int64
	Counted bool
}

// ViewProduct counts a view by viewer (a user or an anonymous visitor id), at most once per
// product per dedup window. The dedup key is taken first: of many concurrent first views by one
// viewer exactly one wins it, and the count itself is one atomic increment in the database.
func (a *App) ViewProduct(ctx context.Context, id, viewer string) (ViewCount, error) {
	key := domain.ViewerKey(viewer)
	first, err := a.views.FirstView(ctx, id, key)
	if err != nil {
		return ViewCount{}, err
	}
	if !first {
		n, err := a.products.Views(ctx, id)
		return ViewCount{Views: n}, err
	}
	n, err := a.products.AddView(ctx, id)
	if err != nil {
		// The view was not counted: let the viewer's next view try again.
		if ferr := a.views.Forget(context.WithoutCancel(ctx), id, key); ferr != nil {
			a.log.Warn("forgetting an uncounted view", "product", id, "error", ferr)
		}
		return ViewCount{}, err
	}
	return ViewCount{Views: n, Counted: true}, nil
}

// Invalidate drops what the cache holds about a product; the change-event consumer calls it.
func (a *App) Invalidate(ctx context.Context, productID string) error {
	return a.cache.Invalidate(ctx, productID)
}
