package outbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// Group commit for the inbox. A consumer with [Batched] hands a worker up to n ready messages
// (of distinct keys, so per-key order is unchanged) and runs their handlers in one PostgreSQL
// transaction, each inside a savepoint of its own that holds its inbox row and its effect: a
// handler that fails is rolled back to its savepoint and retried alone, the others commit
// together, and the consumer acks them only after that commit. The exactly-once argument is
// the one of a single message (the inbox row commits with the effect, or neither does); a
// crash before the commit loses the whole batch's effects and their messages come back, a
// crash after it makes them duplicates the inbox absorbs. A batch costs one COMMIT where n
// messages cost n.

// MaxBatch bounds [Batched]: PostgreSQL keeps up to 64 subtransactions of a transaction in
// shared memory, and beyond that every snapshot looks them up on disk (subtransaction overflow).
const MaxBatch = 64

// Batched is the consumer option that groups the commits of the [Inbox] on pool: up to n
// messages (at most MaxBatch) per transaction. Use it with the Inbox middleware of the same
// pool; n <= 1 leaves each message in a transaction of its own.
func Batched(pool *pgxpool.Pool, n int) bus.ConsumeOption {
	n = min(n, MaxBatch)
	return bus.WithBatch(n, func(ctx context.Context) (context.Context, bus.Batch, error) {
		b := &inboxBatch{pool: pool}
		return context.WithValue(ctx, batchKey{}, b), b, nil
	})
}

// inboxCommits counts the transactions the inbox committed, batched or not (the benchmark
// reports them per event).
var inboxCommits atomic.Int64

type batchKey struct{}

// inboxBatch is the transaction of one consumer batch. It begins with its first message's
// savepoint, on a connection it holds until Commit or Rollback. One worker uses it at a time.
type inboxBatch struct {
	pool    *pgxpool.Pool
	conn    *pgxpool.Conn
	tx      pgx.Tx
	n       int       // savepoints taken
	release string    // a savepoint whose message succeeded, released with the next one's SAVEPOINT
	after   afterList // the AfterCommit callbacks of the messages whose savepoints were kept
	broken  error     // the transaction cannot go on: every later message and the commit fail
	emitted atomic.Bool
}

// batchOf returns the batch in ctx that belongs to pool.
func batchOf(ctx context.Context, pool *pgxpool.Pool) *inboxBatch {
	b, _ := ctx.Value(batchKey{}).(*inboxBatch)
	if b == nil || b.pool != pool {
		return nil
	}
	return b
}

// savepoint opens message's savepoint and records (consumer, id) in it, in one round trip (the
// BEGIN too, for the batch's first message). dup reports that the record existed: the
// savepoint is gone again and the handler must not run.
//
// turn, when not empty, is the message's key-version statement (see turnSQL), sent in the same
// round trip when the transaction is open already: turned reports that it ran, and version is
// what it returned. Otherwise the caller runs awaitTurn itself.
func (b *inboxBatch) savepoint(ctx context.Context, cq, iq, turn string) (sp string, dup, turned bool, version int64, err error) {
	if b.broken != nil {
		return "", false, false, 0, b.broken
	}
	b.n++
	sp = "moa_inbox_" + strconv.Itoa(b.n)
	q := "SAVEPOINT " + sp + "; INSERT INTO moa_inbox (consumer, event_id) VALUES (" + cq + ", " + iq + ")"
	if b.tx == nil {
		if b.conn == nil {
			if b.conn, err = b.pool.Acquire(ctx); err != nil {
				return "", false, false, 0, fmt.Errorf("inbox: %w", err)
			}
		}
		tx, err := b.conn.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN; " + q})
		if err != nil {
			// Nothing of the batch is in the transaction yet: end it and begin with the next one.
			if !b.conn.Conn().IsClosed() && b.conn.Conn().PgConn().TxStatus() != 'I' {
				_, _ = b.conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
			}
			if isUniqueViolation(err) {
				return "", true, false, 0, nil
			}
			if b.conn.Conn().IsClosed() {
				b.conn.Release()
				b.conn = nil
			}
			return "", false, false, 0, fmt.Errorf("inbox: %w", err)
		}
		b.tx = tx
		return sp, false, false, 0, nil
	}
	if b.release != "" {
		q = "RELEASE SAVEPOINT " + b.release + "; " + q
		b.release = ""
	}
	if turn != "" {
		q += "; " + turn
	}
	// The simple protocol, as pgx uses for a query without arguments, but with every
	// statement's result: the last one is the version.
	results, err := b.tx.Conn().PgConn().Exec(ctx, q).ReadAll()
	if err == nil && turn != "" {
		err = parseVersion(results, &version)
	}
	if err != nil {
		if rerr := b.undo(ctx, sp); rerr != nil {
			return "", false, false, 0, rerr
		}
		if isUniqueViolation(err) {
			return "", true, false, 0, nil
		}
		return "", false, false, 0, fmt.Errorf("inbox: %w", err)
	}
	return sp, false, turn != "", version, nil
}

// undo rolls the transaction back to sp, dropping sp. When even that fails, the batch is
// broken.
func (b *inboxBatch) undo(ctx context.Context, sp string) error {
	if _, err := b.tx.Exec(context.WithoutCancel(ctx), "ROLLBACK TO SAVEPOINT "+sp+"; RELEASE SAVEPOINT "+sp); err != nil {
		b.broken = fmt.Errorf("inbox: batch transaction lost: %w", err)
		return b.broken
	}
	return nil
}

// Commit commits the batch's transaction and wakes the relays if a handler emitted events.
func (b *inboxBatch) Commit(ctx context.Context) error {
	defer b.end()
	if b.tx == nil {
		return b.broken // every message was a duplicate or failed: nothing to commit
	}
	if b.broken != nil {
		_ = b.tx.Rollback(ctx)
		return b.broken
	}
	hook("inbox.batch_before_commit")
	if err := b.tx.Commit(ctx); err != nil {
		return fmt.Errorf("inbox: commit: %w", err)
	}
	inboxCommits.Add(1)
	hook("inbox.batch_after_commit")
	if b.emitted.Load() {
		Wake(b.pool)
	}
	b.after.run()
	return nil
}

// Rollback abandons the batch.
func (b *inboxBatch) Rollback(ctx context.Context) {
	defer b.end()
	if b.tx != nil {
		_ = b.tx.Rollback(ctx)
	}
}

func (b *inboxBatch) end() {
	if b.conn != nil {
		b.conn.Release()
	}
	b.conn, b.tx = nil, nil
	b.after.fns = nil // run by Commit, or dropped with the transaction
}

// inboxInBatch is the Inbox for one message of a batch: its inbox row and its handler's effect
// in a savepoint of the batch's transaction, undone alone when the handler fails (or panics).
func inboxInBatch(ctx context.Context, b *inboxBatch, consumer, id string, m *bus.Msg, next bus.Handler) (out []byte, dup bool, err error) {
	cq, iq, err := inboxKey(consumer, id)
	if err != nil {
		return nil, false, err
	}
	turn, v, err := turnSQL(ctx, cq, m)
	if err != nil {
		return nil, false, err
	}
	sp, dup, turned, now, err := b.savepoint(ctx, cq, iq, turn)
	if err != nil || dup {
		return nil, dup, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = b.undo(ctx, sp)
		}
	}()
	ctx, after := withAfter(ctx) // this message's own: kept only with its savepoint
	ctx = context.WithValue(ctx, txKey{}, inboxTxValue{tx: savepointTx{b.tx}, pool: b.pool, emitted: &b.emitted})
	switch {
	case turned && now < v:
		return nil, false, bus.NotYet("%s version %d: version %d was applied last", m.Subject, v, now)
	case turn != "" && !turned:
		if err := awaitTurn(ctx, Tx(ctx), consumer, m); err != nil {
			return nil, false, err
		}
	}
	out, err = next(ctx, m)
	if err != nil {
		return nil, false, err
	}
	ok = true
	b.release = sp
	b.after.fns = append(b.after.fns, after.fns...)
	return out, false, nil
}

// savepointTx is the transaction a handler of a batch sees: the batch's, which only the inbox
// commits or rolls back.
type savepointTx struct{ pgx.Tx }

var errOwnedTx = errors.New("inbox: the transaction belongs to the inbox: return an error to roll the message back")

func (savepointTx) Commit(context.Context) error   { return errOwnedTx }
func (savepointTx) Rollback(context.Context) error { return errOwnedTx }

// turnSQL is awaitTurn's statement for m with its values quoted, for the savepoint's round
// trip; empty when m carries no version. v is m's version.
func turnSQL(ctx context.Context, cq string, m *bus.Msg) (sql string, v int64, err error) {
	v, ok := bus.KeyVersion(m)
	if !ok {
		return "", 0, nil
	}
	sq, err := quoteLiteral(m.Subject)
	if err != nil {
		return "", 0, bus.Permanent(contracts.ErrNoEventID.Msg("inbox subject %q: %v", m.Subject, err))
	}
	ordered, gapAccepted := bus.KeyOrder(ctx)
	force := strconv.FormatBool(!ordered || gapAccepted)
	return turnStatement(cq, sq, strconv.FormatInt(v, 10)+"::bigint", force), v, nil
}

// parseVersion reads the version the last statement of results returned.
func parseVersion(results []*pgconn.Result, v *int64) error {
	if len(results) == 0 {
		return errors.New("no result")
	}
	last := results[len(results)-1]
	if last.Err != nil {
		return last.Err
	}
	if len(last.Rows) != 1 || len(last.Rows[0]) != 1 {
		return errors.New("version: no row")
	}
	n, err := strconv.ParseInt(string(last.Rows[0][0]), 10, 64)
	if err != nil {
		return fmt.Errorf("version: %w", err)
	}
	*v = n
	return nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation
}
