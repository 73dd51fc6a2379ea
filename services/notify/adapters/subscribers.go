package adapters

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/notify/app"
)

// Subscribers asks the subscription service for a product's active subscribers.
type Subscribers struct{ c *bus.Client }

var _ app.Subscribers = (*Subscribers)(nil)

// NewSubscribers returns the adapter over c.
func NewSubscribers(c *bus.Client) *Subscribers { return &Subscribers{c: c} }

// Active implements app.Subscribers.
func (s *Subscribers) Active(ctx context.Context, productID string) ([]string, error) {
	r, err := bus.Call(ctx, s.c, contracts.SubscriptionSubscribers, contracts.ProductRefID{ProductID: productID})
	if err != nil {
		return nil, err
	}
	return r.ConsumerIDs, nil
}
