package system

import (
	"sort"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/services/auth"
	"github.com/moa-run/moa/services/catalog"
	"github.com/moa-run/moa/services/search"
)

// Registration is how the system hosts one service: its Start, and which databases it owns
// (so that `moa dev` only starts what the chosen services use, and `moa serve` can say which
// URL is missing before the service fails on it).
type Registration struct {
	Start    bus.StartFunc
	Postgres bool // the service gets its own PostgreSQL database in Env.PostgresURL
	Mongo    bool // the service gets its own MongoDB database in Env.MongoURL/MongoDatabase
	// Settings documents the keys the service reads with Env.Setting, for `moa help`.
	Settings []SettingDoc
}

// SettingDoc documents one service setting (MOA_<SERVICE>_<KEY>).
type SettingDoc struct {
	Key   string
	Usage string
}

// registry lists every service `moa dev` runs and `moa serve` accepts. A service joins it
// when its package exists and exports Start; the map key is its contracts.Service name.
var registry = map[string]Registration{
	"auth": {Start: auth.Start, Postgres: true, Settings: []SettingDoc{
		{"KEY_ENCRYPTION_KEY", "base64 of 32 bytes that seals the token signing keys at rest (AES-256-GCM); unset, they are stored unencrypted and a warning is logged"},
		{"ACCESS_TOKEN_TTL", "access-token lifetime, a Go duration (default 15m)"},
		{"REFRESH_TOKEN_TTL", "refresh-token lifetime (default 720h)"},
	}},
	"catalog": {Start: catalog.Start, Postgres: true, Settings: []SettingDoc{
		{"CACHE_TTL", "read-cache lifetime, a Go duration (default 2m; 0 turns the cache off)"},
		{"VIEW_WINDOW", "one counted view per viewer per product per window (default 24h)"},
	}},
	"search": {Start: search.Start, Mongo: true, Settings: []SettingDoc{
		{"CONSUMER_CONCURRENCY", "users whose searches are applied in parallel (default 8)"},
		{"JANITOR_INTERVAL", "how often expired searches and counters are deleted (default 10m)"},
	}},
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
