package catalog

import (
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/catalog/adapters"
	"github.com/moa-run/moa/services/catalog/ports"
)

// Registration is how a process hosts the catalog (system's registry): its cache and views
// live in key-value buckets.
var Registration = host.Registration{
	Start:    Start,
	Postgres: true,
	Settings: Settings,
	NATS: host.NATS{
		Calls:     []contracts.Describer{contracts.AuthKeys},
		OwnStream: true,
		Consumers: append([]contracts.ConsumerSpec{ports.CacheConsumer}, ports.SeatConsumers(0, 0)...),
		Buckets:   []string{adapters.CacheBucket, adapters.CacheGenBucket, adapters.ViewsBucket},
	},
}
