package host

import (
	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// Registration is what a hosting process must know about a service without starting it:
// how to start it, which databases it owns, its settings, how it is mounted, and what it does
// on NATS and in the container deployment. Every service package exports one (`var
// Registration = host.Registration{...}`) and the system's registry lists it under the
// service's name, the only line the system holds per service: `moa dev` and `moa serve` start
// from it, `moa help` prints its settings, and deploy/deploygen derives the NATS user, the
// PostgreSQL role and the compose container from it.
//
// Declare it from Go identifiers (endpoints, consumer specs, bucket constants, settings), not
// strings, so that a rename follows.
type Registration struct {
	Start    bus.StartFunc
	Postgres bool // the service gets its own PostgreSQL database in Env.PostgresURL
	Mongo    bool // the service gets its own MongoDB database in Env.MongoURL/MongoDatabase
	// Settings are the service's declared settings (its package's Settings): the only ones
	// it may read (Env.Declared), and what `moa help` and the README list. Those marked
	// PassThrough are passed from the host's environment by the container deployment.
	Settings []bus.Setting
	// Mount, when set, serves the component on the process's HTTP server at this pattern
	// (http.ServeMux syntax; the edge: "/"): the Component that Start returns must be an
	// http.Handler. Such a front is started after the other services of the process and
	// stopped before them, so that it never calls a service that is not there yet or any more.
	// At "/", the status page moves to /status. A mounted component serves no endpoints.
	Mount string
	// NATS is what it does on NATS beyond answering its own endpoints and publishing its own
	// events (which the contracts say): its NATS user's permissions are derived from it.
	NATS NATS
	// Compose is what its container in docker-compose.yml gets besides its NATS user, its
	// database URLs and its PassThrough settings.
	Compose Compose
}

// NATS is what a service does on NATS that neither the registry nor the contracts say.
type NATS struct {
	// Comment says, above its NATS user, what it does that needs the permissions.
	Comment string
	// Calls are the endpoints it calls (of other services: the token verifier's
	// contracts.AuthKeys for most).
	Calls []contracts.Describer
	// OwnStream: it declares its own domain's stream at start (the stream holding
	// evt.<service>.>).
	OwnStream bool
	// Consumers are its durable consumers; their streams and the dead-letter stream are
	// declared at start.
	Consumers []contracts.ConsumerSpec
	// Replays are streams it replays with ordered consumers (whose names are random).
	Replays []contracts.StreamSpec
	// Buckets are the JetStream key-value buckets it uses.
	Buckets []string
	// Pushes are the push subject prefixes it publishes on (one token after the prefix);
	// Hears those it subscribes to.
	Pushes, Hears []string
}

// Compose is what a service's container in docker-compose.yml gets besides what the
// registration already says.
type Compose struct {
	// Comment is written above the container: what an operator should know to run it.
	Comment string
	// Ports are the ports it publishes ("8080:8080").
	Ports []string
}
