package subscription

import (
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/subscription/adapters"
	"github.com/moa-run/moa/services/subscription/ports"
)

// Registration is how a process hosts subscription (system's registry).
var Registration = host.Registration{
	Start:    Start,
	Postgres: true,
	Settings: Settings,
	NATS: host.NATS{
		Comment:   "Owns the saga's state machine, the sweeper and the sellers' dashboard projection.",
		Calls:     []contracts.Describer{contracts.AuthKeys, contracts.CatalogGetProduct},
		OwnStream: true,
		Consumers: ports.Consumers(0),
		Replays:   replayedStreams(),
	},
}

// replayedStreams are the streams the dashboard projection replays.
func replayedStreams() []contracts.StreamSpec {
	var out []contracts.StreamSpec
	for _, r := range adapters.Replayed {
		out = append(out, r.Stream)
	}
	return out
}
