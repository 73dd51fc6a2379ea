package client

import "github.com/moa-run/moa/bus"

// SearchClient calls the search service.
type SearchClient struct{ c *bus.Client }
