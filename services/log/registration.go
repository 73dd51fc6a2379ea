package log

import (
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/log/ports"
)

// Registration is how a process hosts the log (system's registry).
var Registration = host.Registration{
	Start:    Start,
	Mongo:    true,
	Settings: Settings,
	NATS: host.NATS{
		Comment:   "blog visit log on MongoDB: consumes post events, publishes log.post_popular from its own outbox.",
		Calls:     []contracts.Describer{contracts.AuthKeys},
		OwnStream: true,
		Consumers: []contracts.ConsumerSpec{ports.PostConsumer},
	},
}
