// Package app holds the chat's use cases: opening rooms, sending messages (stored before they
// are acknowledged, exactly once per client message id), history, read positions and unread
// counts, and the live pushes that follow a stored change.
package app

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/chat/domain"
)

// Repository is the chat's storage. The document store has no multi-document transactions, so
// every write is one document, idempotent, and a change that spans two documents (a message and
// its room) is made in steps a retry can repeat.
type Repository interface {
	// CreateRoom stores r unless a room with its id exists, and returns the stored room.
	CreateRoom(ctx context.Context, r domain.Room) (stored domain.Room, err error)
	// Room returns one room, or contracts.ErrNotFound.
	Room(ctx context.Context, id string) (domain.Room, error)
	// Members returns the part of a room that never changes (id, product, members,
	// creation), possibly from a cache, or contracts.ErrNotFound.
	Members(ctx context.Context, id string) (domain.Room, error)
	// AppendMessage stores m unless its sender already stored a message with m.ClientMsgID
	// in the room (then it returns that message and dup=true), and records the stored message
	// in its room: as the last message when it is later than the one recorded, in the room's
	// activity, and as the read position of side (a sender has read what they reply to).
	// Positions only move forward, so repeating it, or applying an older message late,
	// changes nothing. It returns nil once the message is stored; the room may be recorded
	// after it returns, but before any read of rooms through this Repository, and after a
	// crash by the next start (the adapter's Recover).
	AppendMessage(ctx context.Context, m domain.Message, side domain.Side) (stored domain.Message, dup bool, err error)
	// Message returns message id of room roomID, or contracts.ErrNotFound.
	Message(ctx context.Context, roomID, id string) (domain.Message, error)
	// History returns up to limit messages of roomID before pos (all when pos is zero),
	// newest first.
	History(ctx context.Context, roomID string, before domain.Pos, limit int) ([]domain.Message, error)
	// AdvanceRead moves side's read position in roomID forward to pos and returns the position
	// before and after (after is the later of the two).
	AdvanceRead(ctx context.Context, roomID string, side domain.Side, pos domain.Pos) (before, after domain.Pos, err error)
	// Rooms returns up to limit rooms of userID with activity before before (all when it is
	// zero), most recently active first.
	Rooms(ctx context.Context, userID string, before domain.Pos, limit int) ([]domain.Room, error)
	// RoomsAwaiting returns userID's rooms whose last message was sent by someone else.
	RoomsAwaiting(ctx context.Context, userID string) ([]domain.Room, error)
	// CountUnread counts the messages of roomID after pos that readerID did not send.
	CountUnread(ctx context.Context, roomID, readerID string, after domain.Pos) (int64, error)
}

// Catalog finds the product a room is about.
type Catalog interface {
	// Product returns the product, contracts.ErrNotFound when there is none, or the error
	// that kept the catalog from answering.
	Product(ctx context.Context, id string) (domain.Product, error)
}

// Pusher sends live pushes to users' connections. Pushes are best effort: it logs failures and
// never blocks a use case on them, because what a push carries is stored already. Their wire
// form is the adapter's business, like any outbound message's.
type Pusher interface {
	// Message pushes a stored message to each user.
	Message(ctx context.Context, m domain.Message, userIDs ...string)
	// Receipt pushes a moved read position to each user.
	Receipt(ctx context.Context, r Receipt, userIDs ...string)
}

// App runs the use cases.
type App struct {
	repo    Repository
	catalog Catalog
	push    Pusher
	now     func() time.Time
	newID   func() (string, error)
	sent    func() // counts a message stored for the first time
}

// New returns the use cases over their dependencies. sent, when not nil, is called for each
// message stored (not for a repeated send of the same client message).
func New(repo Repository, catalog Catalog, push Pusher, sent func()) *App {
	if sent == nil {
		sent = func() {}
	}
	return &App{repo: repo, catalog: catalog, push: push, now: time.Now, newID: newMessageID, sent: sent}
}

// newMessageID returns a time-ordered UUID, so ids sort roughly by time in any tool.
func newMessageID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", contracts.ErrInternal.Wrap(err)
	}
	return id.String(), nil
}

// OpenRoom returns consumerID's room about productID, creating it on first use. Only creating
// asks the catalog, so a room stays usable when its product is gone or the catalog is down.
func (a *App) OpenRoom(ctx context.Context, consumerID, productID string) (domain.Room, error) {
	r, err := a.repo.Room(ctx, domain.RoomID(productID, consumerID))
	if err == nil {
		return r, r.Visible(consumerID)
	}
	if !isNotFound(err) {
		return domain.Room{}, err
	}
	p, err := a.catalog.Product(ctx, productID)
	if isNotFound(err) {
		return domain.Room{}, contracts.ErrNotFound.OnField("product_id", "no product %s", productID)
	}
	if err != nil {
		return domain.Room{}, err
	}
	r, err = domain.NewRoom(p, consumerID, a.now())
	if err != nil {
		return domain.Room{}, err
	}
	return a.repo.CreateRoom(ctx, r)
}

// Room returns a room userID is a member of: the part that never changes (see
// Repository.Members).
func (a *App) Room(ctx context.Context, userID, roomID string) (domain.Room, error) {
	r, err := a.repo.Members(ctx, roomID)
	if isNotFound(err) {
		return domain.Room{}, domain.NoSuchRoom(roomID)
	}
	if err != nil {
		return domain.Room{}, err
	}
	return r, r.Visible(userID)
}

func isNotFound(err error) bool {
	var ce *contracts.Error
	return errors.As(err, &ce) && ce.Kind == contracts.KindNotFound
}
