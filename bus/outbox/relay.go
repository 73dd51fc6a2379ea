package outbox

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// RelayOptions configures a relay. Zero values take the defaults.
type RelayOptions struct {
	// Name tells relays apart in logs and metrics (default "relay").
	Name string
	// BatchSize is how many rows one batch publishes (default 256). The batch is published
	// asynchronously and its PubAcks awaited together, which is what makes the relay fast.
	BatchSize int
	// PollInterval is the fallback wake-up when neither NOTIFY nor an in-process signal came
	// (a lost notification, a LISTEN connection being re-established). Default 1s.
	PollInterval time.Duration
	// PublishTimeout bounds the wait for one batch's PubAcks (default 3s). Rows not acked by
	// then stay unpublished and are retried (the acked prefix is marked, so a slow stream still
	// makes progress; the duplicate window drops what it stored but did not ack). It is also
	// what a batch sent to a stream leader that froze (SIGSTOP, a partition: silence, not an
	// error) waits before going to the new leader, which is why it is short: at 10 s it made
	// sagas stall 14 s through a frozen leader.
	PublishTimeout time.Duration
	// Retention is how long published rows are kept before they are deleted (default 1h).
	// Keep it shorter than nothing in particular; it is there for inspection and debugging.
	Retention time.Duration
	// CleanupInterval is how often published rows (and inbox rows, see InboxRetention) are
	// deleted (default 1m).
	CleanupInterval time.Duration
	// InboxRetention, when positive, deletes moa_inbox rows older than this. It must be longer
	// than any event may still be redelivered or replayed (the streams' MaxAge, the dead-letter
	// stream's MaxAge): a duplicate older than the retention would be applied again. Zero
	// keeps inbox rows forever.
	InboxRetention time.Duration
	// Logger defaults to the runtime's.
	Logger *slog.Logger
}

func (o *RelayOptions) defaults(rt *bus.Runtime) {
	if o.Name == "" {
		o.Name = "relay"
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 3 * time.Second
	}
	if o.Retention <= 0 {
		o.Retention = time.Hour
	}
	if o.CleanupInterval <= 0 {
		o.CleanupInterval = time.Minute
	}
	if o.Logger == nil {
		o.Logger = rt.Logger()
	}
}

// Relay publishes the outbox of one database. Any number of relays (in any number of
// processes) may run on the same database: a batch takes a transaction-scoped advisory lock,
// so one batch runs at a time (a relay woken meanwhile waits for the lock, then takes what the
// other left), and it locks its rows FOR UPDATE SKIP LOCKED, so no row is ever taken twice at
// once. A relay that dies mid-batch releases both with its connection; its rows
// are published again by the next batch.
//
// The stream receives the rows in id order: a batch chains each row to the previous one of
// its stream (the stream refuses a row whose predecessor it did not store), and marks
// published only the rows before the first that failed; the rest are published again, after
// it. A replicated stream is not chained (a broken chain wedges it, see streamIndex): a batch
// cut short there may have stored rows after the one that failed, and only each key's events
// stay in order (by their key versions).
//
// A transient failure (NATS or the stream unavailable, a full stream, a timeout) is retried
// with backoff, forever. A row the stream refuses for good (above the server's max_payload or
// the stream's MaxMsgSize, an invalid subject) is dead-lettered instead of blocking the rows
// after it: it gets a dead letter on dlq.outbox.<relay name> in the DLQ stream (listed by
// `moa dlq ls`; the body is left out if even that stream cannot take it), is marked dead_at in
// moa_outbox (kept, with the reason), counted in moa_outbox_dead_lettered_total, and logged.
// This gives up per-key order for that one event, knowingly: the later events of its key are
// published without it, as if it had never been emitted. Consumers that must not see a gap
// need the event repaired and re-published (clear dead_at, or `moa dlq replay`), which puts
// it after its successors. Emit refuses events above the server's max_payload, so a dead row
// takes a stream configured below the server's limit, or a row emitted where no relay told
// Emit the limit.
type Relay struct {
	pool *pgxpool.Pool
	rt   *bus.Runtime
	js   jetstream.JetStream
	opts RelayOptions
	log  *slog.Logger
	m    *relayMetrics

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	// ctx bounds everything the relay does; canceled when Stop's ctx gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc

	// streams and dlqName serve batch, on the run goroutine only.
	streams streamIndex
	dlqName string

	published    atomic.Int64
	duplicates   atomic.Int64
	deadLettered atomic.Int64
	failures     atomic.Int64
	listening    atomic.Bool
}

// StartRelay starts a relay publishing pool's outbox through rt. ctx only carries values: the
// relay runs until Stop. Start-up problems (PostgreSQL or NATS not reachable yet) are retried
// in the background and logged, never fatal.
func StartRelay(ctx context.Context, pool *pgxpool.Pool, rt *bus.Runtime, opts RelayOptions) *Relay {
	opts.defaults(rt)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	// A JetStream context of its own: its async publish window is the relay's alone, and its
	// futures expire, so acks lost in a server restart do not hold the window forever.
	js, err := jetstream.New(rt.Conn(),
		jetstream.WithPublishAsyncMaxPending(max(2*opts.BatchSize, 256)),
		jetstream.WithPublishAsyncTimeout(opts.PublishTimeout))
	if err != nil {
		js = rt.JetStream() // only fails on invalid options
	}
	r := &Relay{
		pool: pool, rt: rt, js: js, opts: opts,
		log:  opts.Logger.With("relay", opts.Name),
		m:    newRelayMetrics(rt.Registry()),
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
		ctx:  rctx, cancel: cancel,
		dlqName: opts.Name,
	}
	if _, err := contracts.Token("relay name", opts.Name); err != nil {
		r.dlqName = "relay" // its dead letters' subject needs a token
	}
	register(r)
	go r.listen()
	go r.run()
	r.Notify() // rows left by a previous run
	return r
}

// Notify wakes the relay: rows may be waiting. It never blocks.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Published is how many rows this relay has published (PubAck received and marked).
func (r *Relay) Published() int64 { return r.published.Load() }

// DeadLettered is how many rows this relay moved aside because the stream refused them for
// good (see Relay).
func (r *Relay) DeadLettered() int64 { return r.deadLettered.Load() }

// Duplicates is how many of them the stream had already (a re-publish after a relay died
// between publishing and marking), which its duplicate window dropped.
func (r *Relay) Duplicates() int64 { return r.duplicates.Load() }

// Stop stops the relay after its current batch. If ctx ends first, the batch is abandoned:
// its transaction rolls back and its rows are published by the next relay to run.
func (r *Relay) Stop(ctx context.Context) error {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	unregister(r)
	var err error
	select {
	case <-r.done:
	case <-ctx.Done():
		err = ctx.Err()
		r.cancel()
		<-r.done
	}
	r.cancel()
	return err
}

func (r *Relay) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// run publishes whenever woken: by NOTIFY, by Notify, or by the poll fallback.
func (r *Relay) run() {
	defer close(r.done)
	poll := time.NewTicker(r.opts.PollInterval)
	defer poll.Stop()
	cleanup := time.NewTicker(r.opts.CleanupInterval)
	defer cleanup.Stop()
	retry := time.NewTimer(0)
	<-retry.C
	backoff := 50 * time.Millisecond
	for {
		err := r.drain()
		switch {
		case errors.Is(err, errBusy):
			// Another relay held the lock for all of lockWait (a long batch, or a stuck one); it
			// may not have heard of rows committed here (a commit wakes only this process's
			// relays): wait for the lock again at once.
			retry.Reset(0)
		case err != nil:
			if r.stopped() {
				return
			}
			r.failures.Add(1)
			r.m.errors.WithLabelValues(r.opts.Name).Inc()
			r.log.Warn("outbox relay batch failed; retrying", "in", backoff, "error", err)
			retry.Reset(backoff)
			backoff = min(2*backoff, 5*time.Second)
		default:
			backoff = 50 * time.Millisecond
		}
		select {
		case <-r.stop:
			return
		case <-r.wake:
		case <-poll.C:
		case <-retry.C:
		case <-cleanup.C:
			r.cleanup()
		}
	}
}

// drain publishes batches until one comes back short and complete.
func (r *Relay) drain() error {
	for !r.stopped() {
		_, more, err := r.batch()
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// listen keeps a dedicated connection LISTENing on NotifyChannel, reconnecting as needed.
// After every (re)connect it wakes the relay, since commits may have gone unheard meanwhile.
func (r *Relay) listen() {
	wait := 100 * time.Millisecond
	for r.ctx.Err() == nil && !r.stopped() {
		conn, err := pgx.ConnectConfig(r.ctx, r.pool.Config().ConnConfig.Copy())
		if err == nil {
			if _, err = conn.Exec(r.ctx, "LISTEN "+NotifyChannel); err != nil {
				conn.Close(context.Background())
			}
		}
		if err != nil {
			r.log.Debug("outbox LISTEN connection failed; polling meanwhile", "error", err)
			select {
			case <-r.stop:
				return
			case <-time.After(wait):
				wait = min(2*wait, 5*time.Second)
			}
			continue
		}
		wait = 100 * time.Millisecond
		r.listening.Store(true)
		r.Notify()
		r.waitNotifications(conn)
		r.listening.Store(false)
		conn.Close(context.Background())
	}
}

func (r *Relay) waitNotifications(conn *pgx.Conn) {
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				r.log.Debug("outbox LISTEN connection lost", "error", err)
			}
			return
		}
		r.Notify()
	}
}
