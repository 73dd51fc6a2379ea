package auth

import "github.com/moa-run/moa/bus/host"

// Registration is how a process hosts auth (system's registry): its PostgreSQL database, and
// on NATS only its own endpoints and stream (it verifies tokens with its own keys).
var Registration = host.Registration{
	Start:    Start,
	Postgres: true,
	Settings: Settings,
	NATS:     host.NATS{OwnStream: true},
}
