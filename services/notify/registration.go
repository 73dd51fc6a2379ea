package notify

import (
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/notify/ports"
)

// Registration is how a process hosts notify (system's registry). Its SMTP settings are
// passed through by the container deployment.
var Registration = host.Registration{
	Start:    Start,
	Postgres: true,
	Settings: Settings,
	NATS: host.NATS{
		Comment:   "Pushes stored notifications to their users; consumes five other domains' streams.",
		Calls:     []contracts.Describer{contracts.AuthKeys, contracts.SubscriptionSubscribers},
		Consumers: []contracts.ConsumerSpec{ports.SubscriptionConsumer, ports.CatalogConsumer, ports.DirectoryConsumer, ports.PostConsumer, ports.LogConsumer},
		Pushes:    []string{contracts.PushUserPrefix},
	},
	Compose: host.Compose{Comment: "Without MOA_NOTIFY_SMTP_ADDR mails go to notify's dev mailbox, not to anyone."},
}
