// Package app holds the notify service's use cases: turning events into stored notifications
// and queued mails (inside the transaction of the consumer's inbox) and answering the
// user's queries. The use cases speak domain types and results of their own: contracts' wire
// types are mapped in ports (the events and requests that come in, the responses) and adapters
// (the pushes that go out).
package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/notify/domain"
)

// Writer writes in the transaction of the event being handled: the inbox row, the
// notifications and the mails commit together or not at all.
type Writer interface {
	// Append stores d as the user's next notification, or returns created false when the user
	// already has one with d.DedupKey. Sequences are gap-free: a notification that is not
	// stored takes no sequence.
	Append(ctx context.Context, d domain.Draft) (n domain.Notification, created bool, err error)
	// EnqueueMail queues m for the sender; a mail with the same (DedupKey, UserID) is queued
	// once.
	EnqueueMail(ctx context.Context, m domain.Mail) (queued bool, err error)
	Product(ctx context.Context, id string) (domain.Product, error) // zero when unknown
	SaveProduct(ctx context.Context, p domain.Product) error
	SaveUser(ctx context.Context, u domain.User) error
}

// Reads answers the user's queries.
type Reads interface {
	// Since returns the user's latest sequence and up to limit notifications after since, in
	// sequence order, read in one snapshot.
	Since(ctx context.Context, userID string, since uint64, limit int) (last uint64, items []domain.Notification, err error)
	// Page returns up to limit notifications older than before (0: the newest), newest first.
	Page(ctx context.Context, userID string, before uint64, limit int, unreadOnly bool) ([]domain.Notification, error)
	MarkRead(ctx context.Context, userID string, upTo uint64, seqs []uint64) error
	// Unread returns the unread count and the latest sequence.
	Unread(ctx context.Context, userID string) (unread int64, last uint64, err error)
}

// Subscribers lists the consumers with an active subscription to a product (the subscription
// service owns that).
type Subscribers interface {
	Active(ctx context.Context, productID string) ([]string, error)
}

// Mailbox lists the dev mailbox (moa dev, no SMTP server): the mails as stored.
type Mailbox interface {
	// List returns up to limit mails to the address to (every mail when it is empty), newest
	// first.
	List(ctx context.Context, to string, limit int) ([]MailboxEntry, error)
}

// MailboxEntry is one mail in the dev mailbox. Status is "pending" while the recipient's
// address is not known yet, "sent" once delivered.
type MailboxEntry struct {
	ID        int64
	UserID    string
	To        string
	Subject   string
	Body      string
	Status    string
	CreatedAt time.Time
	SentAt    *time.Time
}

// Pusher pushes stored notifications live to their users, after their transaction committed.
// A lost push costs nothing but latency: clients catch up with Since.
type Pusher interface {
	Push(ns ...domain.Notification)
}

// Effects are what a handled event leaves to do once its transaction committed: push the new
// notifications live and wake the mail sender.
type Effects struct {
	Notifications []domain.Notification
	Mails         int
}

// App is the notify service's use cases.
type App struct {
	reads Reads
	subs  Subscribers
	box   Mailbox
	log   *slog.Logger
}

// New returns the app. box is nil unless the dev mailbox is on.
func New(reads Reads, subs Subscribers, box Mailbox, log *slog.Logger) *App {
	return &App{reads: reads, subs: subs, box: box, log: log}
}

// DevMailbox lists up to limit mails (0: contracts.DevMailboxDefault) of the dev mailbox to
// the address to (all when it is empty); it is forbidden when mails go to an SMTP server, so
// that a production deployment never lists its users' mail.
func (a *App) DevMailbox(ctx context.Context, to string, limit int) ([]MailboxEntry, error) {
	if a.box == nil {
		return nil, contracts.ErrForbidden.Msg("the dev mailbox is off: mails go to the SMTP server")
	}
	if limit == 0 {
		limit = contracts.DevMailboxDefault
	}
	return a.box.List(ctx, to, limit)
}
