package outbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

type txKey struct{}

// Tx returns the transaction the [Inbox] opened for this message, or nil outside an inbox
// handler. The handler writes its effect with it (and may Emit the next events into it); the
// inbox commits it with the inbox row when the handler returns nil, and rolls it back when the
// handler fails. Handlers must not commit or roll it back themselves.
func Tx(ctx context.Context) pgx.Tx {
	v, _ := ctx.Value(txKey{}).(inboxTxValue)
	return v.tx
}

// inboxTxValue is what the inbox puts in the handler's context: its transaction, and the pool
// it came from (so that Emit into it knows whether a relay of this process will be woken).
type inboxTxValue struct {
	tx      pgx.Tx
	pool    *pgxpool.Pool
	emitted *atomic.Bool // see committer
}

// InboxOption configures an inbox.
type InboxOption func(*inboxConfig)

type inboxConfig struct {
	onDuplicate func(ctx context.Context, m *bus.Msg, eventID string)
}

// OnDuplicate calls fn for every message the inbox absorbs as a duplicate (tests and metrics).
func OnDuplicate(fn func(ctx context.Context, m *bus.Msg, eventID string)) InboxOption {
	return func(c *inboxConfig) { c.onDuplicate = fn }
}

// Inbox is the idempotent-consumer middleware for handlers whose effect is in PostgreSQL. For
// each message it opens a transaction and inserts (consumer, event id) into moa_inbox. If the
// row was already there, the event was handled before (a redelivery after a lost ack, a
// re-publish, a replay of a message that succeeded): the handler is skipped and the message
// acked. Otherwise the handler runs with the transaction in its context ([Tx]) and the effect
// and the inbox row commit together, or neither does.
//
// The event id is the envelope id, read from the body, so a `moa dlq replay` (which gives the
// message a new Nats-Msg-Id to get past the stream's duplicate window) is still recognised:
// a replay of a message this consumer never completed runs, a replay of one it did is absorbed.
// Two deliveries of one event running at once (two instances) serialise on the inbox row: the
// second waits for the first's commit and then sees a duplicate.
//
// consumer names the inbox: use the durable consumer name. Messages with no event id at all
// fail permanently with contracts.ErrNoEventID (dead-lettered).
func Inbox(pool *pgxpool.Pool, consumer string, opts ...InboxOption) bus.Middleware {
	var cfg inboxConfig
	for _, o := range opts {
		o(&cfg)
	}
	return func(next bus.Handler) bus.Handler {
		return func(ctx context.Context, m *bus.Msg) ([]byte, error) {
			id, err := EventID(m)
			if err != nil {
				return nil, err
			}
			if b := batchOf(ctx, pool); b != nil {
				// A consumer batch (see Batched): its commit, the wake-up and the ack come later.
				out, dup, err := inboxInBatch(ctx, b, consumer, id, m, next)
				if dup && cfg.onDuplicate != nil {
					cfg.onDuplicate(ctx, m, id)
				}
				return out, err
			}
			var emitted atomic.Bool
			out, dup, err := inboxTx(ctx, pool, consumer, id, &emitted, func(ctx context.Context) ([]byte, error) {
				if err := awaitTurn(ctx, Tx(ctx), consumer, m); err != nil { // per-key order, see keyorder.go
					return nil, err
				}
				return next(ctx, m)
			})
			if err != nil {
				return nil, err
			}
			if dup {
				if cfg.onDuplicate != nil {
					cfg.onDuplicate(ctx, m, id)
				}
				return nil, nil
			}
			hook("inbox.after_commit")
			if emitted.Load() {
				Wake(pool) // the handler emitted events
			}
			return out, nil
		}
	}
}

// inboxTx begins a transaction that first records (consumer, id) and then runs fn with it; it
// commits when fn succeeds. dup reports that the record existed: fn did not run.
//
// BEGIN and the inbox INSERT go to the server as one simple-protocol query, one round trip
// instead of two: a message costs BEGIN+INSERT, the handler's statements, and COMMIT. The
// values are therefore quoted here ([quoteLiteral]) rather than bound. A duplicate is the
// INSERT's unique violation, after which the aborted transaction is rolled back on the same
// connection, which then goes back to the pool in good health.
func inboxTx(ctx context.Context, pool *pgxpool.Pool, consumer, id string, emitted *atomic.Bool, fn func(context.Context) ([]byte, error)) (out []byte, dup bool, err error) {
	cq, iq, err := inboxKey(consumer, id)
	if err != nil {
		return nil, false, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("inbox: %w", err)
	}
	defer conn.Release()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN; INSERT INTO moa_inbox (consumer, event_id) VALUES (" + cq + ", " + iq + ")"})
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation {
			_, rerr := conn.Exec(ctx, "ROLLBACK")
			return nil, true, rerr
		}
		if !conn.Conn().IsClosed() && conn.Conn().PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
		return nil, false, fmt.Errorf("inbox: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	fctx, after := withAfter(ctx)
	out, err = fn(context.WithValue(fctx, txKey{}, inboxTxValue{tx: tx, pool: pool, emitted: emitted}))
	if err != nil {
		return nil, false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, false, fmt.Errorf("inbox: commit: %w", err)
	}
	inboxCommits.Add(1)
	after.run()
	return out, false, nil
}

// inboxKey quotes the inbox row's values for a simple-protocol query.
func inboxKey(consumer, id string) (cq, iq string, err error) {
	cq, err1 := quoteLiteral(consumer)
	iq, err2 := quoteLiteral(id)
	if err := errors.Join(err1, err2); err != nil {
		return "", "", bus.Permanent(contracts.ErrNoEventID.Msg("inbox key of %q: %v", id, err))
	}
	return cq, iq, nil
}

// quoteLiteral renders s as an SQL string literal that means s whatever
// standard_conforming_strings is set to (an E” string, quotes and backslashes escaped).
func quoteLiteral(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", errors.New("contains a NUL byte")
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `'`, `''`)
	return "E'" + s + "'", nil
}

// EventID is the key the inbox records for m; see [bus.EventID].
func EventID(m *bus.Msg) (string, error) { return bus.EventID(m) }
