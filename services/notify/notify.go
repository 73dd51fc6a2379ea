// Package notify is the notification service: it turns the subscription saga's terminal events
// and sellers' terms changes into notifications, stored per user under a gap-free sequence and
// pushed live on the user's push subject, and into mails, queued in its database and sent by
// a sender loop to an SMTP server, or to a dev mailbox when none is configured (moa dev).
// It reads accounts (for addresses) and product titles from the auth and catalog events into
// tables of its own, so it never calls those services while handling an event; the subscribers
// of a product it asks the subscription service for.
//
// Settings (MOA_NOTIFY_<KEY>): see [Settings].
package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/outbox"
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

// Start migrates notify's database, starts the mail sender, the retention janitor and the
// event consumers, and serves the endpoints on env.Runtime.
func Start(ctx context.Context, env bus.Env) (_ bus.Component, err error) {
	rt := env.Runtime
	if rt == nil || env.PostgresURL == "" {
		return nil, errors.New("notify: needs a runtime and a PostgreSQL URL")
	}
	log := env.Log(contracts.NotifyService.Name)
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

	var stops bus.Stops
	defer func() {
		if err != nil {
			_ = stops.Stop(context.WithoutCancel(ctx))
		}
	}()

	pool, err := pgxpool.New(ctx, env.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("notify: database: %w", err)
	}
	stops.Add(func(context.Context) error { pool.Close(); return nil })
	if err := adapters.Migrate(ctx, pool); err != nil {
		return nil, err
	}
	if err := outbox.Migrate(ctx, pool); err != nil { // the inbox
		return nil, fmt.Errorf("notify: inbox: %w", err)
	}
	streams := []contracts.StreamSpec{contracts.StreamSubscription, contracts.StreamCatalog, contracts.StreamAuth, contracts.StreamDeadLetter}
	if err := rt.EnsureStreams(ctx, streams...); err != nil {
		return nil, err
	}
	if err := rt.CheckDurability(ctx, streams...); err != nil {
		return nil, err
	}

	sender := adapters.StartSender(ctx, pool, transport, adapters.SenderOptions{Log: log, Registry: rt.Registry()})
	stops.Add(sender.Stop)
	janitor := adapters.StartJanitor(ctx, pool, adapters.JanitorOptions{MaxAge: retention, Log: log})
	stops.Add(janitor.Stop)

	var box app.Mailbox
	if _, dev := transport.(adapters.DevTransport); dev {
		box = adapters.NewDevMailbox(pool)
		log.Warn("SMTP_ADDR is not set: mails go to the dev mailbox (notify.v1.dev_mailbox), not to anyone")
	}
	calls := rt.NewClient(contracts.NotifyService.Name)
	a := app.New(adapters.NewReads(pool), adapters.NewSubscribers(calls), box, log)

	cons, err := ports.Consume(ctx, rt, a, ports.Deps{Pool: pool, Keep: keep, Pusher: adapters.NewPusher(rt.Conn(), log),
		WakeSender: sender.Wake, Concurrency: concurrency, Registry: rt.Registry()})
	if err != nil {
		return nil, err
	}
	stops.Add(func(context.Context) error { cons.Stop(); return nil })

	svc, err := rt.AddService(contracts.NotifyService)
	if err != nil {
		return nil, err
	}
	stops.Add(svc.Stop)
	if err := ports.Register(svc, a, authn.NewVerifier(calls)); err != nil {
		return nil, err
	}
	log.Info("notify started", "transport", transport.Name(), "keep", keep, "retention", retention)
	return bus.Stopper(stops.Stop), nil
}
