// Package client is Moa's microservice SDK: typed Go calls over contracts, e.g.
//
//	c := client.New(rt.Client())
//	p, err := c.Catalog.GetProduct(ctx, id)
//
// Every call goes through bus.Call, so it carries the caller's deadline, trace and end-user
// token, gets the runtime's resilience defaults, and returns *contracts.Error on failure
// (errors.Is(err, contracts.ErrNotFound) works).
package client

import "github.com/moa-run/moa/bus"

// Client groups the typed clients of every Moa service.
type Client struct {
	Auth    *AuthClient
	Catalog *CatalogClient
	Search  *SearchClient
	Chat    *ChatClient
	Notify  *NotifyClient

	Subscription *SubscriptionClient
	Billing      *BillingClient

	Post *PostClient // the blog
	Log  *LogClient  // the blog's visit log
}

// New returns the typed clients over one bus client.
func New(c *bus.Client) *Client {
	return &Client{
		Auth:    &AuthClient{c: c},
		Catalog: &CatalogClient{c: c},
		Search:  &SearchClient{c: c},
		Chat:    &ChatClient{c: c},
		Notify:  &NotifyClient{c: c},

		Subscription: &SubscriptionClient{c: c},
		Billing:      &BillingClient{c: c},

		Post: &PostClient{c: c},
		Log:  &LogClient{c: c},
	}
}
