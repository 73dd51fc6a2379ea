// Package payout is the sellers' payout service. Each seller's balance is an event-sourced
// aggregate: its ledger entries (credited, refunded, payout_requested, payout_paid,
// payout_reversed) are the events on evt.payout.ledger.<seller_id> of the PAYOUT stream, and
// the balance is their fold. Nothing else holds the balance.
//
//   - Appends are conditional on the seller subject's last sequence (JetStream's
//     Nats-Expected-Last-Subject-Sequence): a writer that loaded an older ledger gets a
//     conflict, reloads and decides again, so two writers never both spend one balance.
//   - Billing's payment_succeeded and refund_issued events credit (less the platform fee) and
//     debit the seller of the product (asked of the catalog once per product). Each entry's id
//     is derived from its cause (the billing event id, the payout id), so a duplicate is the
//     same entry twice: the stream drops it inside its duplicate window (Nats-Msg-Id), and the
//     ledger remembers the last DEDUPE_WINDOW entry ids past that window (a redelivery after a
//     long outage). The window is bounded on purpose, so a snapshot, and a load, stay the same
//     size however long a seller's history is.
//   - A payout reserves the amount (payout_requested), then the bank is asked with the payout
//     id as idempotency key: paid, or rejected and reversed by a compensating entry that puts
//     the amount back. A bank that does not answer leaves it pending; the schedule retries.
//   - Every SNAPSHOT_EVERY entries the ledger is snapshotted in the payout_snapshots bucket; a
//     load reads the snapshot and the entries after it.
//   - Entries carry their schema version (the envelope's); older versions are upcast on read
//     (adapters.Codec).
//   - The payout history and balances on PostgreSQL are a projection of the stream, rebuilt by
//     replaying it (adapters.History.Rebuild).
//
// Settings (MOA_PAYOUT_<KEY>): see [Settings].
package payout

import (
	"context"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/host"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/payout/adapters"
	"github.com/moa-run/moa/services/payout/app"
	"github.com/moa-run/moa/services/payout/ports"
)

// scheduleBatch bounds the payouts of one scheduled run; the next run takes the rest.
const scheduleBatch = 500

// Start declares the payout service on the simulated bank.
func Start(ctx context.Context, env bus.Env) (bus.Component, error) {
	fail, err := env.Int(SettingBankFailPercent)
	if err != nil {
		return nil, err
	}
	return StartWithBank(ctx, env, &adapters.SimBank{FailPercent: fail})
}

// StartWithBank starts the service on bank (tests hand one that rejects chosen sellers).
func StartWithBank(ctx context.Context, env bus.Env, bank app.Bank) (bus.Component, error) {
	var cfg app.Config
	var window, concurrency, minPayout int
	var every, retryAfter time.Duration
	for _, r := range []struct {
		s   bus.Setting
		dst *int
	}{{SettingFeeBps, &cfg.FeeBps}, {SettingSnapshotEvery, &cfg.SnapshotEvery}, {SettingSeenWindow, &window},
		{SettingConsumerConcurrency, &concurrency}, {SettingMinPayout, &minPayout}} {
		v, err := env.Int(r.s)
		if err != nil {
			return nil, err
		}
		*r.dst = v
	}
	for _, r := range []struct {
		s   bus.Setting
		dst *time.Duration
	}{{SettingScheduleInterval, &every}, {SettingRetryAfter, &retryAfter}} {
		v, err := env.Duration(r.s)
		if err != nil {
			return nil, err
		}
		*r.dst = v
	}
	return host.Start(ctx, env, host.Service{
		Spec:     contracts.PayoutService,
		Postgres: &host.Postgres{Migrate: adapters.Migrate},
		Streams:  []contracts.StreamSpec{contracts.StreamPayout, contracts.StreamBilling, contracts.StreamDeadLetter},
		Durable:  []contracts.StreamSpec{contracts.StreamPayout, contracts.StreamDeadLetter},
		Build: func(ctx context.Context, d host.Deps) (host.Parts, error) {
			store, err := adapters.NewStore(ctx, d.Runtime, adapters.LedgerCodec, window)
			if err != nil {
				return host.Parts{}, err
			}
			history := adapters.NewHistory(d.Pool)
			a := app.New(store, history, bank, adapters.NewSellers(d.Calls), cfg, d.Log)
			return host.Parts{
				Endpoints: func(svc *bus.Service) error {
					return ports.RegisterEndpoints(svc, a, authn.NewVerifier(d.Calls))
				},
				Consumers: ports.Consumers(a, history, adapters.LedgerCodec, concurrency),
				Jobs: []*bus.Job{bus.Every("payout schedule", every, func(ctx context.Context) error {
					n, failed, err := a.RunSchedule(ctx, history, int64(minPayout), retryAfter, scheduleBatch)
					if n > 0 || failed > 0 {
						d.Log.Info("scheduled payouts", "payouts", n, "failed", failed)
					}
					return err
				})},
				Started: []any{"fee_bps", cfg.FeeBps, "snapshot_every", cfg.SnapshotEvery},
			}, nil
		},
	})
}
