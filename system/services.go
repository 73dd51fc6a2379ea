package system

import (
	"slices"
	"sort"

	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/edge"
	"github.com/moa-run/moa/services/auth"
	"github.com/moa-run/moa/services/billing"
	"github.com/moa-run/moa/services/catalog"
	"github.com/moa-run/moa/services/chat"
	logsvc "github.com/moa-run/moa/services/log"
	"github.com/moa-run/moa/services/notify"
	"github.com/moa-run/moa/services/payout"
	"github.com/moa-run/moa/services/post"
	"github.com/moa-run/moa/services/search"
	"github.com/moa-run/moa/services/subscription"
)

// Registration is how the system hosts one service, declared by the service's own package
// (host.Registration): its Start, the databases it owns (so that `moa dev` only starts what
// the chosen services use, and `moa serve` can say which URL is missing before the service
// fails on it), its settings, its mount, and its needs on NATS and in the container
// deployment, from which NATSUsers and deploy/deploygen derive the deployment files.
type Registration = host.Registration

// registry lists every service `moa dev` runs and `moa serve` accepts: one line per service,
// its package's Registration, and nothing else about it anywhere in system/ or deploy/ (the
// layering test holds that). The map key is its contracts.Service name (and "edge", the
// WebSocket front, which is no contracts.Service).
var registry = map[string]Registration{
	"auth":         withNote(auth.Registration, AuthOperatorSecret, "; `moa dev` sets `"+DevOperatorSecret+"`, also the operator tools' default"),
	"billing":      billing.Registration,
	"catalog":      catalog.Registration,
	"chat":         chat.Registration,
	"edge":         withNote(edge.Registration, EdgeDevMailbox, "; `moa dev` turns it on unless set"),
	"log":          logsvc.Registration,
	"notify":       notify.Registration,
	"payout":       payout.Registration,
	"post":         post.Registration,
	"search":       search.Registration,
	"subscription": subscription.Registration,
}

// AuthOperatorSecret is the auth setting exchanged for operator tokens; moa dev sets it to
// DevOperatorSecret, the default of the operator tools' MOA_OPERATOR_SECRET, so that they
// work against it out of the box. Never use that value outside development.
var AuthOperatorSecret = auth.SettingOperatorSecret.Key

// DevOperatorSecret is moa dev's operator secret (see AuthOperatorSecret).
const DevOperatorSecret = "moa-dev-operator-secret"

// EdgeDevMailbox is the edge setting that routes notify.dev_mailbox to signed-in users, which
// `moa dev` turns on by default so that its demo page shows the mails notify would send.
var EdgeDevMailbox = edge.SettingDevMailbox.Key

// withNote returns reg with note added to the documentation of its setting key: what the host
// does with it (moa dev's defaults), which the service package does not know.
func withNote(reg Registration, key, note string) Registration {
	reg.Settings = slices.Clone(reg.Settings)
	for i, s := range reg.Settings {
		if s.Key == key {
			reg.Settings[i] = s.WithDoc(note)
		}
	}
	return reg
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
