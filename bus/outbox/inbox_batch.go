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
	n       int    // savepoints taken
	release string // a savepoint whose message succeeded, released with the next one's SAVEPOINT
	broken  error  // the transaction cannot go on: every later message and the commit fail
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
func (b *inboxBatch) savepoint(ctx context.Context, cq, iq string) (sp string, dup bool, err error) {
	if b.broken != nil {
		return "", false, b.broken
	}
	b.n++
	sp = "moa_inbox_" + strconv.Itoa(b.n)
	q := "SAVEPOINT " + sp + "; INSERT INTO moa_inbox (consumer, event_id) VALUES (" + cq + ", " + iq + ")"
	if b.tx == nil {
		if b.conn == nil {
			if b.conn, err = b.pool.Acquire(ctx); err != nil {
				return "", false, fmt.Errorf("inbox: %w", err)
			}
		}
		tx, err := b.conn.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN; " + q})
		if err != nil {
			// Nothing of the batch is in the transaction yet: end it and begin with the next one.
			if !b.conn.Conn().IsClosed() && b.conn.Conn().PgConn().TxStatus() != 'I' {
				_, _ = b.conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
			}
			if isUniqueViolation(err) {
				return "", true, nil
			}
			if b.conn.Conn().IsClosed() {
				b.conn.Release()
				b.conn = nil
			}
			return "", false, fmt.Errorf("inbox: %w", err)
		}
		b.tx = tx
		return sp, false, nil
	}
	if b.release != "" {
		q = "RELEASE SAVEPOINT " + b.release + "; " + q
		b.release = ""
	}
	if _, err := b.tx.Exec(ctx, q); err != nil {
		if rerr := b.undo(ctx, sp); rerr != nil {
			return "", false, rerr
		}
		if isUniqueViolation(err) {
			return "", true, nil
		}
		return "", false, fmt.Errorf("inbox: %w", err)
	}
	return sp, false, nil
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
}

// inboxInBatch is the Inbox for one message of a batch: its inbox row and its handler's effect
// in a savepoint of the batch's transaction, undone alone when the handler fails (or panics).
func inboxInBatch(ctx context.Context, b *inboxBatch, consumer, id string, fn func(context.Context) ([]byte, error)) (out []byte, dup bool, err error) {
	cq, iq, err := inboxKey(consumer, id)
	if err != nil {
		return nil, false, err
	}
	sp, dup, err := b.savepoint(ctx, cq, iq)
	if err != nil || dup {
		return nil, dup, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = b.undo(ctx, sp)
		}
	}()
	out, err = fn(context.WithValue(ctx, txKey{}, inboxTxValue{tx: savepointTx{b.tx}, pool: b.pool, emitted: &b.emitted}))
	if err != nil {
		return nil, false, err
	}
	ok = true
	b.release = sp
	return out, false, nil
}

// savepointTx is the transaction a handler of a batch sees: the batch's, which only the inbox
// commits or rolls back.
type savepointTx struct{ pgx.Tx }

var errOwnedTx = errors.New("inbox: the transaction belongs to the inbox: return an error to roll the message back")

func (savepointTx) Commit(context.Context) error   { return errOwnedTx }
func (savepointTx) Rollback(context.Context) error { return errOwnedTx }

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation
}
