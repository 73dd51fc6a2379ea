package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// relayLock is the advisory lock key that lets one relay batch run at a time per database.
const relayLock int64 = 0x6d6f615f72656c79 // "moa_rely"

type row struct {
	id      int64
	eventID string
	subject string
	body    []byte
}

// errBusy says another relay held the batch lock for all of lockWait.
var errBusy = errors.New("another relay is publishing")

// batch publishes one batch of pending rows and, in one transaction, marks published the
// acked prefix (the rows before the first that failed) and dead the first failed row when its
// failure is permanent. It returns the number of rows it selected and whether rows may be
// waiting that the next batch should take at once, or errBusy when another relay holds the
// lock.
//
// The database sees two round trips per batch: BEGIN, the lock and the SELECT, pipelined,
// before publishing; the marks with COMMIT, pipelined, after (ROLLBACK alone when there is
// nothing to mark). The relay runs a batch on every commit it hears of, so at low rates its
// round trips are a large part of an event's way from commit to handler.
func (r *Relay) batch() (n int, more bool, err error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.PublishTimeout+30*time.Second)
	defer cancel()
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("acquire: %w", err)
	}
	defer func() {
		// Every path that leaves the transaction open (nothing to mark, an error) ends here.
		// pgxpool would destroy a connection released inside a transaction; rolling back keeps
		// it, and releases the lock and the rows at once.
		if pc := conn.Conn().PgConn(); !pc.IsClosed() && pc.TxStatus() != 'I' {
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, _ = conn.Exec(rctx, "ROLLBACK")
			rcancel()
		}
		conn.Release()
	}()
	rows, mine, err := selectRows(ctx, conn.Conn(), r.opts.BatchSize)
	if err != nil {
		return 0, false, err
	}
	if !mine {
		return 0, false, errBusy
	}
	if len(rows) == 0 {
		return 0, false, nil
	}
	hook("relay.before_publish")
	acked, perr := r.publish(ctx, rows)
	hook("relay.after_publish")
	more = len(rows) == r.opts.BatchSize
	var dead *row
	var deadCause *contracts.Error
	if perr != nil {
		x := rows[acked]
		switch cause := permanent(perr); {
		case cause != nil:
			if err := r.deadLetter(ctx, x, cause); err != nil {
				perr = fmt.Errorf("%w (after %w)", err, perr)
				break
			}
			dead, deadCause, perr, more = &x, cause, nil, true
		case brokenChain(perr):
			// The stream's last message is not the previous row: another publisher came between
			// them, or the server lost track of it. The next batch starts at this row, unchained.
			r.streams.stale = true
			perr, more = nil, true
		}
	}
	if acked > 0 || dead != nil {
		ids := make([]int64, acked)
		for i, x := range rows[:acked] {
			ids[i] = x.id
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE moa_outbox SET published_at = now() WHERE id = ANY($1)`, ids)
		if dead != nil {
			b.Queue(`UPDATE moa_outbox SET dead_at = now(), dead_error = $2 WHERE id = $1`, dead.id, deadCause.Error())
		}
		b.Queue(`COMMIT`)
		if err := conn.SendBatch(ctx, b).Close(); err != nil {
			// The events are in the stream; they will be published again and deduplicated.
			return 0, false, fmt.Errorf("mark published: %w", err)
		}
		r.published.Add(int64(acked))
		r.m.published.WithLabelValues(r.opts.Name).Add(float64(acked))
		if dead != nil {
			r.deadLettered.Add(1)
			r.m.deadLettered.WithLabelValues(r.opts.Name).Inc()
			r.log.Warn("outbox row dead-lettered: the stream refuses it for good; the rows after it, of its key too, go on",
				"id", dead.id, "event_id", dead.eventID, "subject", dead.subject, "code", deadCause.Code, "error", deadCause.Message)
		}
	}
	if perr != nil {
		return 0, false, perr
	}
	return len(rows), more, nil
}

// lockWait bounds how long a batch waits for the batch lock held by another relay before it
// gives up (errBusy) and tries again: it keeps Stop prompt and the connection free for a while
// when the holder is stuck.
const lockWait = 500 * time.Millisecond

// selectSQL locks and returns the next pending rows in id order. It runs after the batch lock
// was taken: a relay without the lock must not lock rows, which the lock holder's SKIP LOCKED
// would then pass over and publish their successors first.
const selectSQL = `SELECT id, event_id, subject, envelope FROM moa_outbox
	WHERE published_at IS NULL AND dead_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`

// selectRows begins the batch's transaction, takes the batch lock and selects the rows, in one
// round trip. It leaves the transaction open (batch ends it). When another relay holds the lock,
// it waits for it (up to lockWait) rather than returning at once: the relay that holds it may
// not have heard of the rows this one was woken for (a commit wakes only the relays of its own
// process), and a wait ends the moment the other batch commits, where a retry would come a
// poll interval later. mine is false when the wait timed out.
func selectRows(ctx context.Context, conn *pgx.Conn, limit int) (out []row, mine bool, err error) {
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SET LOCAL lock_timeout = ` + strconv.FormatInt(lockWait.Milliseconds(), 10))
	b.Queue(`SELECT pg_advisory_xact_lock($1)`, relayLock)
	b.Queue(`SET LOCAL lock_timeout TO DEFAULT`) // the batch's other statements wait as they would anywhere
	b.Queue(selectSQL, limit)
	br := conn.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("select: %w", cerr)
		}
	}()
	for _, step := range []string{"begin", "lock timeout", "lock", "lock timeout"} {
		if _, err := br.Exec(); err != nil {
			var pgErr *pgconn.PgError
			if step == "lock" && errors.As(err, &pgErr) && pgErr.Code == pgerrcode.LockNotAvailable {
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("%s: %w", step, err)
		}
	}
	rs, err := br.Query()
	if err != nil {
		return nil, false, fmt.Errorf("select: %w", err)
	}
	defer rs.Close()
	out = make([]row, 0, limit)
	for rs.Next() {
		var x row
		if err := rs.Scan(&x.id, &x.eventID, &x.subject, &x.body); err != nil {
			return nil, false, fmt.Errorf("scan: %w", err)
		}
		out = append(out, x)
	}
	if err := rs.Err(); err != nil {
		return nil, false, fmt.Errorf("select: %w", err)
	}
	return out, true, nil
}

// publish sends the rows asynchronously, in id order on one connection, then waits for their
// PubAcks in that order. It returns how many rows, from the first, the stream acked, and why
// the next one was not (nil when all were).
//
// Each row is chained to the previous row of the batch bound for the same stream
// (Nats-Expected-Last-Msg-Id), so the stream stores a row only right after its predecessor: a
// row that fails (too large, subject full, stream unavailable for a moment) makes the stream
// refuse the rows after it too, which wait for the next batch, instead of being stored ahead
// of it. With only the acked prefix marked, the stream receives the rows in id order. Rows
// for a replicated stream are not chained (see streamIndex): there only each key's order holds.
func (r *Relay) publish(ctx context.Context, rows []row) (int, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(rows))
	spans := make([]trace.Span, len(rows)) // the hops' spans by row; nil when not traced
	defer func() {
		for _, s := range spans {
			if s != nil {
				// A row not acked: the next batch retries it under a span of its own.
				s.SetStatus(codes.Error, "not acknowledged")
				s.End()
			}
		}
	}()
	last := map[string]string{} // stream -> event id of its previous row in this batch
	var sendErr error
	for i, x := range rows {
		msg, err := rowMsg(x)
		if err != nil {
			// It cannot happen with rows written by Emit.
			sendErr = &unpublishable{cause: contracts.ErrInternal.Msg("unreadable outbox row %d: %v", x.id, err)}
			break
		}
		spans[i] = r.hopSpan(msg, x)
		if stream := r.streams.of(ctx, r.js, x.subject); stream != "" {
			if prev, ok := last[stream]; ok {
				msg.Header.Set(expectedLastMsgID, prev)
			}
			last[stream] = x.eventID
		}
		f, err := r.js.PublishMsgAsync(msg)
		if err != nil {
			sendErr = fmt.Errorf("publish %s: %w", x.subject, err)
			if spans[i] != nil {
				spans[i].SetStatus(codes.Error, err.Error())
			}
			break
		}
		futures = append(futures, f)
	}
	wait := time.NewTimer(r.opts.PublishTimeout)
	defer wait.Stop()
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack != nil && ack.Duplicate {
				r.duplicates.Add(1)
			}
			if spans[i] != nil {
				if ack != nil {
					spans[i].SetAttributes(attribute.Int64("messaging.nats.stream.sequence", int64(ack.Sequence)),
						attribute.Bool("moa.outbox.duplicate", ack.Duplicate))
				}
				spans[i].End()
				spans[i] = nil
			}
		case err := <-f.Err():
			if spans[i] != nil {
				spans[i].SetStatus(codes.Error, err.Error())
			}
			return i, fmt.Errorf("publish %s: %w", rows[i].subject, err)
		case <-wait.C:
			return i, fmt.Errorf("no PubAck within %v for %d of %d events", r.opts.PublishTimeout, len(rows)-i, len(rows))
		case <-ctx.Done():
			return i, ctx.Err()
		}
	}
	return len(futures), sendErr
}

// hopSpan starts the producer span of one row's publish, as a child of the span that wrote
// the row (its stored traceparent), and puts the hop's own trace context in msg's header, so
// that the consumer's span is the hop's child: a trace shows the time an event spent in the
// outbox. A row written outside any trace, or a tracer that does not record, leaves msg as
// it is (nil span). The header's size does not change: a traceparent has a fixed length and
// the tracestate is the parent's, so checkSize's bound holds.
func (r *Relay) hopSpan(msg *nats.Msg, x row) trace.Span {
	if msg.Header.Get("traceparent") == "" {
		return nil
	}
	// nats.Header keys are case-sensitive and rowHeader writes them lower case.
	carrier := propagation.MapCarrier{"traceparent": msg.Header.Get("traceparent")}
	if ts := msg.Header.Get("tracestate"); ts != "" {
		carrier["tracestate"] = ts
	}
	ctx := relayProp.Extract(context.Background(), carrier)
	_, span := r.rt.Tracer().Start(ctx, "outbox publish "+msg.Header.Get(bus.HeaderEventType), producerSpan)
	if !span.IsRecording() {
		span.End()
		return nil
	}
	span.SetAttributes(
		attribute.String("messaging.system", "nats"),
		attribute.String("messaging.operation.type", "publish"),
		attribute.String("messaging.destination.name", x.subject),
		attribute.String("messaging.message.id", x.eventID),
		attribute.String("moa.relay", r.opts.Name),
	)
	out := propagation.MapCarrier{}
	relayProp.Inject(trace.ContextWithSpan(context.Background(), span), out)
	msg.Header.Set("traceparent", out["traceparent"])
	return span
}

var (
	// relayProp is W3C trace context only: an outbox row stores no baggage.
	relayProp    = propagation.TraceContext{}
	producerSpan = trace.WithSpanKind(trace.SpanKindProducer)
)

// rowMsg is the wire form of an outbox row: what bus.EnvelopeMsg would build from the
// envelope, without decoding and re-encoding it.
func rowMsg(x row) (*nats.Msg, error) {
	var env struct {
		Type        string `json:"type"`
		TraceParent string `json:"traceparent"`
		TraceState  string `json:"tracestate"`
	}
	if err := json.Unmarshal(x.body, &env); err != nil {
		return nil, err
	}
	msg := nats.NewMsg(x.subject)
	msg.Data = x.body
	msg.Header = rowHeader(x.eventID, env.Type, env.TraceParent, env.TraceState)
	return msg, nil
}

// cleanup deletes published rows past retention, and inbox rows past InboxRetention, in
// bounded chunks so that no statement holds locks for long.
func (r *Relay) cleanup() {
	ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
	defer cancel()
	n, err := deleteChunked(ctx, r, `DELETE FROM moa_outbox WHERE id IN (SELECT id FROM moa_outbox
		WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => $1) LIMIT 5000)`, r.opts.Retention)
	if err != nil {
		r.log.Warn("outbox cleanup failed", "error", err)
	} else if n > 0 {
		r.log.Debug("outbox cleanup", "deleted", n)
	}
	if r.opts.InboxRetention > 0 {
		if _, err := deleteChunked(ctx, r, `DELETE FROM moa_inbox WHERE ctid IN (SELECT ctid FROM moa_inbox
			WHERE processed_at < now() - make_interval(secs => $1) LIMIT 5000)`, r.opts.InboxRetention); err != nil {
			r.log.Warn("inbox cleanup failed", "error", err)
		}
	}
}

func deleteChunked(ctx context.Context, r *Relay, sql string, age time.Duration) (int64, error) {
	var total int64
	for !r.stopped() {
		tag, err := r.pool.Exec(ctx, sql, age.Seconds())
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < 5000 {
			break
		}
	}
	return total, nil
}

// relayMetrics are shared by the relays on one registry.
type relayMetrics struct {
	published *prometheus.CounterVec
	errors    *prometheus.CounterVec
	// deadLettered counts rows moved aside: the stream refused them for good.
	deadLettered *prometheus.CounterVec
}

func newRelayMetrics(reg prometheus.Registerer) *relayMetrics {
	return &relayMetrics{
		published: bus.RegisterOrGet(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "outbox_published_total",
			Help: "Outbox rows published by the relay (PubAck received and marked published).",
		}, []string{"relay"})),
		errors: bus.RegisterOrGet(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "outbox_relay_errors_total",
			Help: "Relay batches that failed (NATS or PostgreSQL unavailable) and were retried.",
		}, []string{"relay"})),
		deadLettered: bus.RegisterOrGet(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "outbox_dead_lettered_total",
			Help: "Outbox rows the stream refused for good (too large, invalid), moved to the DLQ stream so that later rows flow.",
		}, []string{"relay"})),
	}
}
