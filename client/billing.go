package client

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// BillingClient calls the billing service. Payments needs the access token of the
// subscription's consumer or of the product's seller on ctx.
type BillingClient struct{ c *bus.Client }

// NewBillingClient returns the billing client over c (client.New builds all clients).
func NewBillingClient(c *bus.Client) *BillingClient { return &BillingClient{c: c} }

// Payments lists the charges and refunds of one subscription, oldest first.
func (c *BillingClient) Payments(ctx context.Context, subscriptionID string) (contracts.PaymentList, error) {
	return bus.Call(ctx, c.c, contracts.BillingPayments, contracts.SubscriptionPaymentsRequest{SubscriptionID: subscriptionID})
}
