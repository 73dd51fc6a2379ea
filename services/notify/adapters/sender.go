package adapters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/bus"
)

// SenderOptions configures the sender loop.
type SenderOptions struct {
	Batch int           // mails claimed at once (default 32)
	Poll  time.Duration // fallback wake-up for retries and other instances' mails (default 1s)
	// Lease is how long a claimed mail is left alone before another round (or instance) may
	// take it again, should this one die mid-send (default 2m; longer than one SMTP batch).
	Lease      time.Duration
	MaxBackoff time.Duration // retry delay cap (default 10m)
	Log        *slog.Logger
	Registry   prometheus.Registerer
}

// Sender sends queued mails through a transport. Rows are the source of truth: a mail is
// claimed (with a lease) in one transaction, sent, then marked sent, so a crash at any point
// leaves it to be sent again, never lost. The converse is the one duplicate SMTP allows: a crash
// after the server accepted a mail and before it was marked sent re-sends it after the lease,
// with the same Message-ID. It runs as a job every Poll, woken early when mails were queued.
type Sender struct {
	pool    *pgxpool.Pool
	tr      Transport
	opts    SenderOptions
	log     *slog.Logger
	metrics *mailMetrics
}

// NewSender makes the sender; [Sender.Send] is one pass.
func NewSender(pool *pgxpool.Pool, tr Transport, opts SenderOptions) *Sender {
	if opts.Batch <= 0 {
		opts.Batch = 32
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = 2 * time.Minute
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Minute
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Sender{pool: pool, tr: tr, opts: opts, log: opts.Log, metrics: newMailMetrics(opts.Registry)}
}

// Poll is how often the sender's job runs when nothing wakes it.
func (s *Sender) Poll() time.Duration { return s.opts.Poll }

// Send sends due mails, batch after batch, until a batch comes back short. A batch being sent
// when ctx ends is abandoned; its lease runs out and it is sent later.
func (s *Sender) Send(ctx context.Context) error {
	for ctx.Err() == nil {
		n, err := s.round(ctx)
		if err != nil || n < s.opts.Batch {
			return err
		}
	}
	return nil
}

// claimSQL takes due mails for one lease, with the recipient's address as the directory knows
// it now. SKIP LOCKED lets instances share the queue.
const claimSQL = `
WITH c AS (
    SELECT id FROM mail_queue WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED
)
UPDATE mail_queue m SET attempts = m.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
FROM c WHERE m.id = c.id
RETURNING m.id, m.user_id, m.dedup_key, m.subject, m.body, m.attempts,
    (SELECT d.email FROM directory d WHERE d.user_id = m.user_id),
    (SELECT d.display_name FROM directory d WHERE d.user_id = m.user_id)`

type claimed struct {
	Outgoing
	attempts int
	known    bool
}

// round sends one batch and returns how many mails it claimed.
func (s *Sender) round(ctx context.Context) (int, error) {
	rows, err := s.pool.Query(ctx, claimSQL, s.opts.Batch, s.opts.Lease.Seconds())
	if err != nil {
		return 0, fmt.Errorf("claim: %w", err)
	}
	batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
		var c claimed
		var email, name *string
		err := r.Scan(&c.ID, &c.UserID, &c.DedupKey, &c.Subject, &c.Body, &c.attempts, &email, &name)
		if email != nil {
			c.To, c.known = *email, true
		}
		if name != nil {
			c.Name = *name
		}
		return c, err
	})
	if err != nil {
		return 0, fmt.Errorf("claim: %w", err)
	}
	var out []Outgoing
	var sendable []claimed
	for _, c := range batch {
		if !c.known {
			// The signup event has not arrived yet; saving the user makes the mail due again.
			s.metrics.add(s.tr.Name(), "no_address")
			s.retry(ctx, c, errors.New("the recipient's address is not known yet"), min(s.backoff(c.attempts), 30*time.Second))
			continue
		}
		out = append(out, c.Outgoing)
		sendable = append(sendable, c)
	}
	if len(out) == 0 {
		return len(batch), nil
	}
	for i, err := range s.tr.Send(ctx, out) {
		c := sendable[i]
		var perm *PermanentError
		switch {
		case err == nil:
			s.metrics.add(s.tr.Name(), "sent")
			if _, err := s.pool.Exec(ctx, `UPDATE mail_queue SET status = 'sent', sent_at = now(), to_addr = $2,
				transport = $3, last_error = NULL WHERE id = $1`, c.ID, c.To, s.tr.Name()); err != nil {
				s.log.Warn("marking a sent mail failed; it will be sent again when its lease ends", "mail", c.ID, "error", err)
			}
		case errors.As(err, &perm):
			s.metrics.add(s.tr.Name(), "failed")
			s.log.Error("mail refused for good", "mail", c.ID, "user", c.UserID, "error", err)
			if _, err2 := s.pool.Exec(ctx, `UPDATE mail_queue SET status = 'failed', to_addr = $2, transport = $3,
				last_error = $4 WHERE id = $1`, c.ID, c.To, s.tr.Name(), err.Error()); err2 != nil {
				s.log.Warn("marking a failed mail failed", "mail", c.ID, "error", err2)
			}
		default:
			s.metrics.add(s.tr.Name(), "retry")
			s.log.Warn("mail not sent; will retry", "mail", c.ID, "attempt", c.attempts, "error", err)
			s.retry(ctx, c, err, s.backoff(c.attempts))
		}
	}
	return len(batch), nil
}

func (s *Sender) retry(ctx context.Context, c claimed, cause error, in time.Duration) {
	if _, err := s.pool.Exec(ctx, `UPDATE mail_queue SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3
		WHERE id = $1 AND status = 'pending'`, c.ID, in.Seconds(), cause.Error()); err != nil {
		s.log.Warn("rescheduling a mail failed; its lease brings it back", "mail", c.ID, "error", err)
	}
}

// backoff is 1s, 2s, 4s, … up to MaxBackoff, after attempt n.
func (s *Sender) backoff(n int) time.Duration {
	d := time.Second
	for i := 1; i < n && d < s.opts.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.opts.MaxBackoff)
}

// mailMetrics counts mail outcomes.
type mailMetrics struct{ mails *prometheus.CounterVec }

func newMailMetrics(reg prometheus.Registerer) *mailMetrics {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "moa", Subsystem: "notify", Name: "mails_total",
		Help: "Mail send outcomes: sent, failed (refused for good), retry, no_address (waiting for the signup event)."},
		[]string{"transport", "result"})
	return &mailMetrics{mails: bus.RegisterOrGet(reg, c)}
}

func (m *mailMetrics) add(transport, result string) { m.mails.WithLabelValues(transport, result).Inc() }
