package client

import "github.com/moa-run/moa/bus"

// CatalogClient calls the catalog service.
type CatalogClient struct{ c *bus.Client }
