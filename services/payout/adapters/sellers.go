package adapters

import (
	"context"
	"sync"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/payout/app"
)

// Sellers learns a product's seller from the catalog (catalog.v1.get_product); billing's
// events name the product, not its seller. A product never changes seller, so answers are
// kept, up to maxKept products (then forgotten all at once: simple, and only costs calls).
type Sellers struct {
	calls *bus.Client

	mu   sync.Mutex
	kept map[string]string
}

const maxKept = 100_000

var _ app.Sellers = (*Sellers)(nil)

// NewSellers asks the catalog through calls.
func NewSellers(calls *bus.Client) *Sellers { return &Sellers{calls: calls, kept: map[string]string{}} }

// SellerOf returns the seller of product.
func (s *Sellers) SellerOf(ctx context.Context, product string) (string, error) {
	s.mu.Lock()
	seller, ok := s.kept[product]
	s.mu.Unlock()
	if ok {
		return seller, nil
	}
	p, err := bus.Call(ctx, s.calls, contracts.CatalogGetProduct, contracts.ProductRef{ID: product})
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if len(s.kept) >= maxKept {
		s.kept = map[string]string{}
	}
	s.kept[product] = p.SellerID
	s.mu.Unlock()
	return p.SellerID, nil
}
