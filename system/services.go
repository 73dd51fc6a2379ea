package system

import (
	"sort"

	"github.com/moa-run/moa/bus"
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
	// Settings documents the keys the service reads with Env.Setting, for `moa help`.
	Settings []SettingDoc
	// Mount, when set, serves the component on the process's HTTP server at this pattern
	// (http.ServeMux syntax; the edge: "/"): the Component that Start returns must be an
	// http.Handler. Such a front is started after the other services of the process and
	// stopped before them, so that it never calls a service that is not there yet or any more.
	// At "/", the status page moves to /status.
	Mount string
}

// SettingDoc documents one service setting (MOA_<SERVICE>_<KEY>).
type SettingDoc struct {
	Key   string
	Usage string
}

// registry lists every service `moa dev` runs and `moa serve` accepts. A service joins it
// when its package exists and exports Start; the map key is its contracts.Service name (and
// "edge", the WebSocket front, which is no contracts.Service).
var registry = map[string]Registration{
	"auth": {Start: auth.Start, Postgres: true, Settings: []SettingDoc{
		{"KEY_ENCRYPTION_KEY", "base64 of 32 bytes that seals the token signing keys at rest (AES-256-GCM); unset, they are stored unencrypted and a warning is logged"},
		{"ACCESS_TOKEN_TTL", "access-token lifetime, a Go duration (default 15m)"},
		{"REFRESH_TOKEN_TTL", "refresh-token lifetime (default 720h)"},
		{AuthOperatorSecret, "at least 16 characters, exchanged for short-lived operator tokens (auth.v1.operator_token) that the operator endpoints and the whole dev mailbox require; unset, none are issued (moa dev: " + DevOperatorSecret + ")"},
	}},
	"billing": {Start: billing.Start, Postgres: true, Settings: []SettingDoc{
		{"PROVIDER", "payment provider; only sim, the built-in simulated provider (default sim)"},
		{"SIM_DECLINE_RATE", "share of charges the simulated provider declines, 0 to 1 (default 0)"},
		{"SIM_TIMEOUT_RATE", "share of provider calls that time out with an unknown outcome, 0 to 1 (default 0)"},
		{"SIM_LATENCY", "how long every simulated provider call takes, a Go duration (default 0)"},
		{"SIM_LATE_RATE", "share of provider calls that time out unrecorded and land SIM_LATE_DELAY later, 0 to 1 (default 0)"},
		{"SIM_LATE_DELAY", "how long after its timeout a late provider call lands, a Go duration (default 2s)"},
		{"SIM_SEED", "seed that makes the simulated declines and timeouts reproducible (default 1)"},
		{"ACK_WAIT", "how long a saga step may run before it is redelivered (default 30s)"},
		{"CONSUMER_CONCURRENCY", "saga steps handled in parallel per consumer, 1 to 256 (default 8)"},
	}},
	"catalog": {Start: catalog.Start, Postgres: true, Settings: []SettingDoc{
		{"CACHE_TTL", "read-cache lifetime, a Go duration (default 2m; 0 turns the cache off)"},
		{"VIEW_WINDOW", "one counted view per viewer per product per window (default 24h)"},
		{"SAGA_ACK_WAIT", "how long a seat change of the subscription saga may run before it is redelivered (default 30s)"},
		{"SAGA_MAX_DELIVER", "attempts of a seat change before it is dead-lettered, 1 to 10000 (default 40, about 3 minutes of retries)"},
	}},
	"chat": {Start: chat.Start, Mongo: true, Settings: []SettingDoc{
		{"WRITERS", "message batches written at once, 1 to 64 (default 2); messages are stored in batches (group commit)"},
	}},
	// The WebSocket edge: no database, the front of the process at "/".
	"edge": {Start: startEdge, Mount: "/", Settings: edgeSettings()},
	"notify": {Start: notify.Start, Postgres: true, Settings: []SettingDoc{
		{"SMTP_ADDR", "SMTP server host:port for mails; unset, mails go to the dev mailbox (notify.v1.dev_mailbox) and reach no one"},
		{"SMTP_FROM", "From address of the mails (default Moa <no-reply@moa.localhost>)"},
		{"SMTP_USER", "SMTP user name (with SMTP_PASSWORD; unset: no authentication)"},
		{"SMTP_PASSWORD", "SMTP password"},
		{"SMTP_TLS", "none, starttls or tls (implicit): how the SMTP connection is secured (default none for a loopback server, else starttls)"},
		{"KEEP", "notifications kept per user; older ones are deleted (default 500)"},
		{"RETENTION", "longest a notification is kept, a Go duration (default 720h)"},
		{"CONCURRENCY", "events handled in parallel per consumer (default 4)"},
	}},
	"search": {Start: search.Start, Mongo: true, Settings: []SettingDoc{
		{"CONSUMER_CONCURRENCY", "users whose searches are applied in parallel (default 8)"},
		{"JANITOR_INTERVAL", "how often expired searches and counters are deleted (default 10m)"},
	}},
	"subscription": {Start: subscription.Start, Postgres: true, Settings: []SettingDoc{
		{"STUCK_AFTER", "a saga that has not moved for this long has its step re-emitted, a Go duration (default 30s)"},
		{"TIMEOUT_AFTER", "a PENDING saga this old is cancelled with reason timed_out (default 10m)"},
		{"SWEEP_INTERVAL", "how often stuck sagas are looked for (default 5s)"},
		{"ACK_WAIT", "how long a saga step may run before it is redelivered (default 30s)"},
		{"CONSUMER_CONCURRENCY", "events handled in parallel per consumer, 1 to 256 (default 8)"},
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
