package chat

import (
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/contracts"
)

// Registration is how a process hosts chat (system's registry).
var Registration = host.Registration{
	Start:    Start,
	Mongo:    true,
	Settings: Settings,
	NATS: host.NATS{
		Comment: "1:1 rooms on MongoDB: no streams; it pushes stored messages and receipts to both members.",
		Calls:   []contracts.Describer{contracts.AuthKeys, contracts.CatalogGetProduct},
		Pushes:  []string{contracts.PushUserPrefix},
	},
}
