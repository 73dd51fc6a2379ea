package billing

import (
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/billing/ports"
)

// Registration is how a process hosts billing (system's registry).
var Registration = host.Registration{
	Start:    Start,
	Postgres: true,
	Settings: Settings,
	NATS: host.NATS{
		Comment:   "Charges a saga when its seat is reserved, refunds it when it is cancelled.",
		Calls:     []contracts.Describer{contracts.AuthKeys},
		OwnStream: true,
		Consumers: ports.Consumers(0),
	},
	Compose: host.Compose{Comment: "Payments go to the built-in simulated provider (MOA_BILLING_PROVIDER=sim)."},
}
