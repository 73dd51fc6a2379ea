package post

import (
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/contracts"
)

// Registration is how a process hosts the post service (system's registry): it verifies
// tokens with auth's keys and declares its own stream; nothing else on NATS.
var Registration = host.Registration{
	Start:    Start,
	Postgres: true,
	Settings: Settings,
	NATS: host.NATS{
		Calls:     []contracts.Describer{contracts.AuthKeys},
		OwnStream: true,
	},
}
