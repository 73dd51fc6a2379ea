package adapters

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// JanitorOptions configures the retention loop.
type JanitorOptions struct {
	Every time.Duration // default 10m
	// MaxAge removes notifications older than this (default 30 days). Per user, everything up to
	// the newest expired one goes, so what is kept stays a contiguous run even if creation
	// times and sequences disagree by a transaction's length.
	MaxAge time.Duration
	// SentMailAge removes sent or failed mails older than this (default 30 days).
	SentMailAge time.Duration
	// InboxAge removes inbox rows older than this (default 100 days: longer than the
	// subscription and catalog streams keep events, so a redelivered event is still absorbed).
	InboxAge time.Duration
}

// Janitor applies retention; it runs as a job every Every (first pass right away).
type Janitor struct {
	pool *pgxpool.Pool
	o    JanitorOptions
}

// NewJanitor makes the janitor, with o's defaults filled in.
func NewJanitor(pool *pgxpool.Pool, o JanitorOptions) *Janitor {
	if o.Every <= 0 {
		o.Every = 10 * time.Minute
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 30 * 24 * time.Hour
	}
	if o.SentMailAge <= 0 {
		o.SentMailAge = 30 * 24 * time.Hour
	}
	if o.InboxAge <= 0 {
		o.InboxAge = 100 * 24 * time.Hour
	}
	return &Janitor{pool: pool, o: o}
}

// Every is how often the janitor's job runs.
func (j *Janitor) Every() time.Duration { return j.o.Every }

// Run applies retention once.
func (j *Janitor) Run(ctx context.Context) error {
	return Prune(ctx, j.pool, j.o.MaxAge, j.o.SentMailAge, j.o.InboxAge)
}

// Prune applies retention once.
func Prune(ctx context.Context, pool *pgxpool.Pool, maxAge, sentMailAge, inboxAge time.Duration) error {
	for _, q := range []struct {
		sql string
		age time.Duration
	}{
		{`DELETE FROM notifications n USING (
			SELECT user_id, max(seq) AS upto FROM notifications
			WHERE created_at < now() - make_interval(secs => $1) GROUP BY user_id
		) old WHERE n.user_id = old.user_id AND n.seq <= old.upto`, maxAge},
		{`DELETE FROM mail_queue WHERE status <> 'pending' AND created_at < now() - make_interval(secs => $1)`, sentMailAge},
		{`DELETE FROM moa_inbox WHERE processed_at < now() - make_interval(secs => $1)`, inboxAge},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.age.Seconds()); err != nil {
			return err
		}
	}
	return nil
}
