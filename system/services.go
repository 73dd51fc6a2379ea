package system

import (
	"slices"
	"sort"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/edge"
	"github.com/moa-run/moa/services/auth"
	"github.com/moa-run/moa/services/billing"
	"github.com/moa-run/moa/services/catalog"
	"github.com/moa-run/moa/services/chat"
	"github.com/moa-run/moa/services/notify"
	"github.com/moa-run/moa/services/search"
	"github.com/moa-run/moa/services/subscription"
)

// Registration is how the system hosts one service: its Start, and which databases it owns
// (so that `moa dev` only starts what the chosen services use, and `moa serve` can say which
// URL is missing before the service fails on it).
type Registration struct {
	Start    bus.StartFunc
	Postgres bool // the service gets its own PostgreSQL database in Env.PostgresURL
	Mongo    bool // the service gets its own MongoDB database in Env.MongoURL/MongoDatabase
	// Settings are the service's declared settings (its package's Settings): the only ones
	// it may read (Env.Declared), and what `moa help` and the README list.
	Settings []bus.Setting
	// Mount, when set, serves the component on the process's HTTP server at this pattern
	// (http.ServeMux syntax; the edge: "/"): the Component that Start returns must be an
	// http.Handler. Such a front is started after the other services of the process and
	// stopped before them, so that it never calls a service that is not there yet or any more.
	// At "/", the status page moves to /status.
	Mount string
}

// registry lists every service `moa dev` runs and `moa serve` accepts. A service joins it
// when its package exists and exports Start; the map key is its contracts.Service name (and
// "edge", the WebSocket front, which is no contracts.Service).
var registry = map[string]Registration{
	"auth":    {Start: auth.Start, Postgres: true, Settings: withNote(auth.Settings, AuthOperatorSecret, "; `moa dev` sets `"+DevOperatorSecret+"`, also the operator tools' default")},
	"billing": {Start: billing.Start, Postgres: true, Settings: billing.Settings},
	"catalog": {Start: catalog.Start, Postgres: true, Settings: catalog.Settings},
	"chat":    {Start: chat.Start, Mongo: true, Settings: chat.Settings},
	// The WebSocket edge: no database, the front of the process at "/".
	"edge":         {Start: startEdge, Mount: "/", Settings: withNote(edge.Settings, EdgeDevMailbox, "; `moa dev` turns it on unless set")},
	"notify":       {Start: notify.Start, Postgres: true, Settings: notify.Settings},
	"search":       {Start: search.Start, Mongo: true, Settings: search.Settings},
	"subscription": {Start: subscription.Start, Postgres: true, Settings: subscription.Settings},
}

// withNote returns settings with note added to key's documentation: what the host does with
// it (moa dev's defaults), which the service package does not know.
func withNote(settings []bus.Setting, key, note string) []bus.Setting {
	out := slices.Clone(settings)
	for i, s := range out {
		if s.Key == key {
			out[i] = s.WithDoc(note)
		}
	}
	return out
}

// Services returns the names of the registered services, sorted.
func Services() []string { return names(registry) }

// Lookup returns a registered service.
func Lookup(name string) (Registration, bool) {
	r, ok := registry[name]
	return r, ok
}

func names(reg map[string]Registration) []string {
	out := make([]string, 0, len(reg))
	for n := range reg {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
