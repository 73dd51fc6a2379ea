// Package outbox gives Moa services the transactional outbox and the idempotent inbox on
// PostgreSQL: a service writes its state change and the events it emits in one transaction,
// a relay publishes them, and consumers record each event id with their effect so a redelivered
// event is acked without repeating the effect.
package outbox

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// NotifyChannel is the LISTEN/NOTIFY channel on which committed outbox rows wake the relay.
const NotifyChannel = "moa_outbox"

// Emit records one event in the outbox inside tx. The event is published by the relay only if
// tx commits, and it is published even if this process dies right after the commit: the row is
// the source of truth. It returns the envelope (its ID is the event id).
func Emit[T any](ctx context.Context, tx pgx.Tx, source string, ev contracts.Event[T], key string, data T) (contracts.Envelope, error) {
	env, subject, err := bus.NewEnvelope(ctx, nil, source, ev, key, data)
	if err != nil {
		return env, err
	}
	body, err := json.Marshal(env)
	if err != nil {
		return env, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO moa_outbox (event_id, subject, envelope) VALUES ($1, $2, $3)`, env.ID, subject, body); err != nil {
		return env, fmt.Errorf("outbox: insert %s: %w", env.Type, err)
	}
	// Wakes relays listening on the channel; delivered by PostgreSQL only when tx commits.
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, NotifyChannel); err != nil {
		return env, fmt.Errorf("outbox: notify: %w", err)
	}
	return env, nil
}
