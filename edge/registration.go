package edge

import (
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/contracts"
)

// Registration is how a process hosts the edge (system's registry, as "edge", which is no
// contracts.Service): the front of the process at "/", with no database.
var Registration = host.Registration{
	Start:    Start,
	Settings: Settings,
	Mount:    "/",
	NATS: host.NATS{
		Comment: "The WebSocket edge calls, for app clients, exactly the endpoints of its allowlist " +
			"(edge.DefaultRoutes) with the client's token, relays the users' pushes, passes typing " +
			"signals and presence between instances, and shares presence in a key-value bucket.",
		Calls:   append(routedEndpoints(), contracts.AuthKeys),
		Buckets: []string{contracts.PresenceBucket},
		Pushes:  []string{contracts.PushRoomPrefix, contracts.PushPresencePrefix},
		Hears:   []string{contracts.PushUserPrefix, contracts.PushRoomPrefix, contracts.PushPresencePrefix},
	},
	Compose: host.Compose{
		Comment: "The WebSocket edge: the web app, /ws and /sdk/moa.js on http://localhost:8080/. " +
			"Set MOA_EDGE_ALLOWED_ORIGINS to the origins of other sites whose pages may connect.",
		Ports: []string{"8080:8080"},
	},
}

// routedEndpoints are the endpoints the edge routes to app clients in production (the
// dev-only routes, like notify.v1.dev_mailbox, left out), sorted by subject.
func routedEndpoints() []contracts.Describer {
	routed := map[string]bool{}
	for _, r := range DefaultRoutes() {
		routed[r.Endpoint.Subject] = true
	}
	var out []contracts.Describer
	for _, d := range contracts.Endpoints() { // sorted by subject
		if routed[d.Info().Subject] {
			out = append(out, d)
		}
	}
	return out
}
