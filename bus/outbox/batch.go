package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/bus"
)

// relayLock is the advisory lock key that lets one relay batch run at a time per database.
const relayLock int64 = 0x6d6f615f72656c79 // "moa_rely"

type row struct {
	id      int64
	eventID string
	subject string
	body    []byte
}

// errBusy says another relay holds the batch lock.
var errBusy = errors.New("another relay is publishing")

// batch publishes one batch of unpublished rows and marks the acked ones published, in one
// transaction. It returns the number of rows it selected, or errBusy when another relay holds
// the lock.
func (r *Relay) batch() (int, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.PublishTimeout+30*time.Second)
	defer cancel()
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	var mine bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, relayLock).Scan(&mine); err != nil {
		return 0, fmt.Errorf("lock: %w", err)
	}
	if !mine {
		return 0, errBusy
	}
	rows, err := selectRows(ctx, tx, r.opts.BatchSize)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	hook("relay.before_publish")
	acked, perr := r.publish(ctx, rows)
	hook("relay.after_publish")
	if len(acked) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE moa_outbox SET published_at = now() WHERE id = ANY($1)`, acked); err != nil {
			return 0, fmt.Errorf("mark published: %w", err)
		}
		if err := tx.Commit(ctx); err != nil {
			// The events are in the stream; they will be published again and deduplicated.
			return 0, fmt.Errorf("commit published marks: %w", err)
		}
		r.published.Add(int64(len(acked)))
		r.m.published.WithLabelValues(r.opts.Name).Add(float64(len(acked)))
	}
	if perr != nil {
		return 0, perr
	}
	return len(rows), nil
}

func selectRows(ctx context.Context, tx pgx.Tx, limit int) ([]row, error) {
	rs, err := tx.Query(ctx, `SELECT id, event_id, subject, envelope FROM moa_outbox
		WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
	if err != nil {
		return nil, fmt.Errorf("select: %w", err)
	}
	out := make([]row, 0, limit)
	for rs.Next() {
		var x row
		if err := rs.Scan(&x.id, &x.eventID, &x.subject, &x.body); err != nil {
			rs.Close()
			return nil, fmt.Errorf("scan: %w", err)
		}
		out = append(out, x)
	}
	return out, rs.Err()
}

// publish sends every row asynchronously, in id order on one connection (so the stream stores
// them in that order), then waits for all PubAcks. It returns the ids that were acked.
func (r *Relay) publish(ctx context.Context, rows []row) ([]int64, error) {
	futures := make([]jetstream.PubAckFuture, len(rows))
	var sendErr error
	for i, x := range rows {
		msg, err := rowMsg(x)
		if err != nil {
			// A row the relay cannot read would block nothing but itself; it stays unpublished
			// and logged. It cannot happen with rows written by Emit.
			r.log.Error("unreadable outbox row", "id", x.id, "event_id", x.eventID, "error", err)
			continue
		}
		f, err := r.js.PublishMsgAsync(msg)
		if err != nil {
			sendErr = fmt.Errorf("publish %s: %w", x.subject, err)
			break
		}
		futures[i] = f
	}
	wait := time.NewTimer(r.opts.PublishTimeout)
	defer wait.Stop()
	acked := make([]int64, 0, len(rows))
	var ackErr error
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case ack := <-f.Ok():
			acked = append(acked, rows[i].id)
			if ack != nil && ack.Duplicate {
				r.duplicates.Add(1)
			}
		case err := <-f.Err():
			if ackErr == nil {
				ackErr = fmt.Errorf("publish %s: %w", rows[i].subject, err)
			}
		case <-wait.C:
			return acked, errors.Join(sendErr, fmt.Errorf("no PubAck within %v for %d of %d events", r.opts.PublishTimeout, len(rows)-len(acked), len(rows)))
		case <-ctx.Done():
			return acked, ctx.Err()
		}
	}
	return acked, errors.Join(sendErr, ackErr)
}

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
	msg.Header.Set(jetstream.MsgIDHeader, x.eventID)
	msg.Header.Set(bus.HeaderEventType, env.Type)
	if env.TraceParent != "" {
		msg.Header.Set("traceparent", env.TraceParent)
	}
	if env.TraceState != "" {
		msg.Header.Set("tracestate", env.TraceState)
	}
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
}

func newRelayMetrics(reg prometheus.Registerer) *relayMetrics {
	return &relayMetrics{
		published: registerOrGet(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "outbox_published_total",
			Help: "Outbox rows published by the relay (PubAck received and marked published).",
		}, []string{"relay"})),
		errors: registerOrGet(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "moa", Name: "outbox_relay_errors_total",
			Help: "Relay batches that failed (NATS or PostgreSQL unavailable) and were retried.",
		}, []string{"relay"})),
	}
}

func registerOrGet[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
