package payout

import (
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/payout/adapters"
	"github.com/moa-run/moa/services/payout/ports"
)

// Registration is how a process hosts payout (system's registry).
var Registration = host.Registration{
	Start:    Start,
	Postgres: true,
	Settings: Settings,
	NATS: host.NATS{
		Comment:   "Keeps sellers' balances as event-sourced ledgers on its own stream; credits billing's payments.",
		Calls:     []contracts.Describer{contracts.AuthKeys, contracts.CatalogGetProduct},
		OwnStream: true,
		Consumers: []contracts.ConsumerSpec{ports.BillingConsumer, ports.HistoryConsumer},
		Replays:   []contracts.StreamSpec{contracts.StreamPayout},
		Buckets:   []string{adapters.SnapshotBucket},
	},
	Compose: host.Compose{Comment: "Payouts go to the built-in simulated bank."},
}
