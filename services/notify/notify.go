// Package notify is the notification service: it turns the subscription saga's terminal events,
// sellers' terms changes, new comments on blog posts and posts crossing a view threshold into
// notifications, stored per user under a gap-free sequence and
// pushed live on the user's push subject, and into mails, queued in its database and sent by
// a sender loop to an SMTP server, or to a dev mailbox when none is configured (moa dev).
// It reads accounts (for addresses) and product titles from the auth and catalog events into
// tables of its own, so it never calls those services while handling an event; the subscribers
// of a product it asks the subscription service for.
//
// Layout: domain (rules and words), app (use cases), adapters (PostgreSQL, SMTP, pushes),
// ports (endpoints and event consumers, which map contracts' wire types). Start is the
// composition root: it builds the adapters and hands them to the app and the ports, which
// depend on the app only.
//
// Settings (MOA_NOTIFY_<KEY>): see [Settings].
package notify

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/notify/adapters"
	"github.com/moa-run/moa/services/notify/app"
	"github.com/moa-run/moa/services/notify/ports"
)

// Defaults of the settings.
const (
	DefaultKeep        = contracts.NotifySinceMax
	DefaultRetention   = 30 * 24 * time.Hour
	DefaultConcurrency = 4
)

// Start declares the notify service: its database, the mail sender and the retention janitor
// jobs, the event consumers and the endpoints.
func Start(ctx context.Context, env bus.Env) (bus.Component, error) {
	keep, err := env.Int(SettingKeep)
	if err != nil {
		return nil, err
	}
	concurrency, err := env.Int(SettingConsumerConcurrency)
	if err != nil {
		return nil, err
	}
	retention, err := env.Duration(SettingRetention)
	if err != nil {
		return nil, err
	}
	smtp, err := readSMTP(env)
	if err != nil {
		return nil, err
	}
	var transport adapters.Transport = adapters.DevTransport{}
	if smtp.Addr != "" {
		if transport, err = adapters.NewSMTP(smtp); err != nil {
			return nil, err
		}
	}
	streams := []contracts.StreamSpec{contracts.StreamSubscription, contracts.StreamCatalog, contracts.StreamAuth, contracts.StreamPost, contracts.StreamLog, contracts.StreamDeadLetter}
	return host.Start(ctx, env, host.Service{
		Spec:     contracts.NotifyService,
		Postgres: &host.Postgres{Migrate: adapters.Migrate},
		Streams:  streams,
		Durable:  streams,
		Build: func(ctx context.Context, d host.Deps) (host.Parts, error) {
			rt, log, pool := d.Runtime, d.Log, d.Pool
			sender := adapters.NewSender(pool, transport, adapters.SenderOptions{Log: log, Registry: rt.Registry()})
			send := bus.Every("mail sender", sender.Poll(), sender.Send).Immediately()
			janitor := adapters.NewJanitor(pool, adapters.JanitorOptions{MaxAge: retention})
			var box app.Mailbox
			if _, dev := transport.(adapters.DevTransport); dev {
				box = adapters.NewDevMailbox(pool)
				log.Warn(SMTPAddrEnv + " is not set: mails go to the dev mailbox (notify.v1.dev_mailbox), not to anyone")
			}
			a := app.New(adapters.NewReads(pool), adapters.NewSubscribers(d.Calls), box, log)
			return host.Parts{
				Endpoints: func(svc *bus.Service) error { return ports.Register(svc, a, authn.NewVerifier(d.Calls)) },
				Consumers: ports.Consumers(a, ports.Deps{
					Writer:     func(tx pgx.Tx) app.Writer { return adapters.NewWriter(tx, keep) },
					Pusher:     adapters.NewPusher(rt.Conn(), log),
					WakeSender: send.Wake, Concurrency: concurrency, Registry: rt.Registry()}),
				Jobs:    []*bus.Job{send, bus.Every("retention janitor", janitor.Every(), janitor.Run).Immediately()},
				Started: []any{"transport", transport.Name(), "keep", keep, "retention", retention},
			}, nil
		},
	})
}
