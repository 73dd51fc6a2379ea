// Package outbox gives Moa services the transactional outbox and the idempotent inbox on
// PostgreSQL: a service writes its state change and the events it emits in one transaction,
// a relay publishes them, and consumers record each event id with their effect so a redelivered
// event is acked without repeating the effect.
//
// Together they make Moa's promise, no event lost and no effect applied twice, out of two
// weaker ones: JetStream delivers at least once, and PostgreSQL commits atomically.
//
//   - Producer: [Transact] (or any transaction) + [Emit]. The event row commits with the state
//     change or not at all; once committed it is published even if the process dies the next
//     instant, because the row, not the process, is the source of truth.
//   - Relay: [StartRelay] publishes unpublished rows in id order with Nats-Msg-Id = event id,
//     waits for the PubAcks, then marks them published. A crash between publish and mark
//     re-publishes; the stream's duplicate window drops the copy, and the inbox absorbs what
//     gets past the window. A row the stream refuses for good is dead-lettered (see [Relay])
//     so that the rows after it flow; [Emit] refuses, with payload_too_large, an event larger
//     than the server accepts.
//   - Consumer: the [Inbox] middleware records (consumer, event id) in the transaction of the
//     effect ([Tx] hands it to the handler), so a duplicate finds its row and is acked without
//     running the handler. A handler may [Emit] into the same transaction: effect, inbox row and
//     the next events of a saga commit together.
//   - Order: Emit numbers each subject's events in commit order, and the inbox of a keyed
//     consumer applies them in that order even when a crash makes them arrive out of it (see
//     keyorder.go).
//
// Tables: [Migrate] creates moa_outbox, moa_inbox and their key-version tables (tern, version
// table moa_bus_schema_version).
package outbox

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// NotifyChannel is the LISTEN/NOTIFY channel on which committed outbox rows wake the relay.
const NotifyChannel = "moa_outbox"

// Emit records one event in the outbox inside tx. The event is published by the relay only if
// tx commits, and it is published even if this process dies right after the commit: the row is
// the source of truth. It returns the envelope (its ID is the event id).
//
// An event the NATS server could never take (above its max_payload as the relay publishes it)
// is refused with contracts.ErrPayloadTooBig (payload_too_large) before anything is written:
// tx is untouched and usable. The limit is known from the relays running in this process.
func Emit[T any](ctx context.Context, tx pgx.Tx, source string, ev contracts.Event[T], key string, data T) (contracts.Envelope, error) {
	env, subject, err := bus.NewEnvelope(ctx, nil, source, ev, key, data)
	if err != nil {
		return env, err
	}
	// The size is checked before the event takes a version of its key: a refused event must
	// leave no hole in the versions, which would hold its key's later events back.
	body, err := unstampedEnvelope(env)
	if err != nil {
		return env, fmt.Errorf("outbox: encode %s: %w", env.Type, err)
	}
	if err := checkSize(ctx, tx, env.ID, env.Type, env.TraceParent, env.TraceState, body); err != nil {
		return env, err
	}
	// The row takes the event's version of its key (see keyorder.go) in the same statement:
	// one round trip per event.
	if _, err := tx.Exec(ctx, insertStamped, env.ID, subject, body); err != nil {
		return env, fmt.Errorf("outbox: insert %s: %w", env.Type, err)
	}
	if c, ok := localCommitter(ctx, tx); ok {
		c.emitted.Store(true)
		return env, nil
	}
	// Wakes relays listening on the channel; delivered by PostgreSQL only when tx commits.
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, NotifyChannel); err != nil {
		return env, fmt.Errorf("outbox: notify: %w", err)
	}
	return env, nil
}

// committer is what Transact and the inbox put in the context of the transaction they will
// commit and then Wake the relays of its pool for.
type committer struct {
	tx   pgx.Tx
	pool *pgxpool.Pool
	// emitted is set by an Emit that left the wake-up to the committer: it wakes the relays
	// only then, so that a transaction without events does not send them looking for rows.
	emitted *atomic.Bool
}

type committerKey struct{}

// localCommitter returns the committer of tx when Transact or the inbox will commit it and a
// relay of this process reads its pool: that relay is woken after the commit, so the NOTIFY
// (which PostgreSQL serialises across all notifying commits, halving their rate) is not needed.
func localCommitter(ctx context.Context, tx pgx.Tx) (committer, bool) {
	c, ok := ctx.Value(committerKey{}).(committer)
	if !ok {
		if v, ok := ctx.Value(txKey{}).(inboxTxValue); ok {
			c = committer{tx: v.tx, pool: v.pool, emitted: v.emitted}
		}
	}
	if c.tx == nil || c.tx != tx || c.emitted == nil {
		return c, false
	}
	local.mu.Lock()
	defer local.mu.Unlock()
	return c, len(local.relays[c.pool]) > 0
}

// Transact runs fn in a transaction on pool and commits it when fn returns nil (rolls it back
// otherwise); what fn registered with [AfterCommit] runs after the commit. It is the easy path for a state change with events: write the change and Emit
// the events with the same tx. After the commit it wakes the relays of this process on pool at
// once; when such a relay exists, the events skip the NOTIFY (relays in other processes still
// find them: by their poll, and because a relay woken here while one elsewhere publishes waits
// for that batch to end and then takes the rows).
func Transact(ctx context.Context, pool *pgxpool.Pool, fn func(ctx context.Context, tx pgx.Tx) error) error {
	var emitted atomic.Bool
	ctx, after := withAfter(ctx)
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return fn(context.WithValue(ctx, committerKey{}, committer{tx: tx, pool: pool, emitted: &emitted}), tx)
	})
	if err != nil {
		return err
	}
	if emitted.Load() {
		Wake(pool)
	}
	after.run()
	return nil
}

// insertStamped inserts an outbox row ($1 event id, $2 subject, $3 unstamped body) with the
// next version of its subject stamped into the body's key_version (see keyorder.go).
const insertStamped = `WITH v AS (
		INSERT INTO moa_outbox_key_versions AS k (subject, version) VALUES ($2, 1)
		ON CONFLICT (subject) DO UPDATE SET version = k.version + 1 RETURNING version)
	INSERT INTO moa_outbox (event_id, subject, envelope)
	SELECT $1::text, $2::text, $3::jsonb || jsonb_build_object('key_version', v.version) FROM v`

// local is the in-process wake-up: relays by the pool they read.
var local struct {
	mu     sync.Mutex
	relays map[*pgxpool.Pool]map[*Relay]struct{}
}

// Wake tells the relays of this process that read pool that rows may be waiting. Call it after
// committing a transaction that used Emit outside [Transact]; it is cheap and never blocks.
// Relays in other processes are woken by NOTIFY.
func Wake(pool *pgxpool.Pool) {
	local.mu.Lock()
	defer local.mu.Unlock()
	for r := range local.relays[pool] {
		r.Notify()
	}
}

func register(r *Relay) {
	local.mu.Lock()
	defer local.mu.Unlock()
	if local.relays == nil {
		local.relays = map[*pgxpool.Pool]map[*Relay]struct{}{}
	}
	if local.relays[r.pool] == nil {
		local.relays[r.pool] = map[*Relay]struct{}{}
	}
	local.relays[r.pool][r] = struct{}{}
}

func unregister(r *Relay) {
	local.mu.Lock()
	defer local.mu.Unlock()
	delete(local.relays[r.pool], r)
	if len(local.relays[r.pool]) == 0 {
		delete(local.relays, r.pool)
	}
}

// testHook, when set (by tests only), is called at the named crash points: the crash tests
// kill the process there.
var testHook func(point string)

func hook(point string) {
	if testHook != nil {
		testHook(point)
	}
}
