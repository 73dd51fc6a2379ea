package search

import (
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/search/ports"
)

// Registration is how a process hosts search (system's registry).
var Registration = host.Registration{
	Start:    Start,
	Mongo:    true,
	Settings: Settings,
	NATS: host.NATS{
		Calls:     []contracts.Describer{contracts.AuthKeys},
		Consumers: []contracts.ConsumerSpec{ports.CatalogSearchedConsumer},
	},
}
