package client

import "github.com/moa-run/moa/bus"

// AuthClient calls the auth service.
type AuthClient struct{ c *bus.Client }
