// Package adapters connects the chat to the outside: its MongoDB store (FerretDB in tests and
// `moa dev`), the catalog it asks about products, and the NATS push subjects it publishes on.
//
// Collections:
//
//	rooms     one document per room, _id = the room id. It carries what lists need without
//	          reading messages: the last message, the activity position rooms are sorted by,
//	          and each member's read position.
//	messages  one document per message, _id = the message id, unique on (room, sender, client
//	          message id) so a retried send finds the stored message instead of adding one.
//	schema    the migration version.
//
// Positions (domain.Pos) are strings that sort in message order, so history pages, unread
// counts and read positions are single-field comparisons and $max updates on an index. Only
// features FerretDB 1.24 supports are used (see internal/docstore): no transactions, no change
// streams, no TTL or partial indexes. FerretDB does not isolate concurrent updates of one
// document, so this process serialises its updates of each room (see docLocks).
//
// FerretDB 1.24 on SQLite pushes a query down to SQL only when its filter is {_id: <value>} and
// nothing else (no ranges, no other field, no sort); any other filter reads and decodes every
// document of the collection in Go. Even the pushed-down _id lookup scans the table in SQLite
// (its WHERE expression is not the one the _id index is built on; see
// TestReadsUseIndexesOnMongoDB), so on that store every update and read costs in proportion to
// the collection. The hot paths are written for it: a send only inserts (one insertMany per
// batch); rooms are updated by _id alone, behind, at most once every 3 s each; a message is read
// by _id alone. History pages, unread counts and room lists filter on other fields: on MongoDB
// their indexes serve them (see migrations).
//
// Messages are written in batches (see writer): one insertMany per batch, whatever the number
// of messages waiting; their rooms are recorded behind, one update per room per flushEvery.
package adapters

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/chat/app"
	"github.com/moa-run/moa/services/chat/domain"
)

// Collection names.
const (
	collRooms    = "rooms"
	collMessages = "messages"
)

// Repository implements app.Repository on a MongoDB database.
type Repository struct {
	rooms    *mongo.Collection
	messages *mongo.Collection
	w        *writer
	members  *roomCache
	locks    *docLocks
}

var _ app.Repository = (*Repository)(nil)

// NewRepository returns the repository over db, with writers message writers (see
// DefaultWriters). Run Migrate first; Close it when done.
func NewRepository(db *mongo.Database, writers int) *Repository {
	r := &Repository{rooms: db.Collection(collRooms), messages: db.Collection(collMessages),
		members: newRoomCache(roomCacheSize), locks: newDocLocks()}
	r.w = newWriter(r.messages, r.rooms, r.locks, writers)
	return r
}

// Close stops the message writers after the batches they are writing.
func (r *Repository) Close() { r.w.close() }

// storeError maps a driver error onto the catalogue: the store being unreachable or slow is
// worth a retry; anything else is a bug or a broken store.
func storeError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded), mongo.IsTimeout(err):
		return contracts.ErrTimeout.Msg("chat store: %s timed out", op).Wrap(err)
	case errors.Is(err, context.Canceled):
		return contracts.ErrCanceled.Msg("chat store: %s canceled", op).Wrap(err)
	case mongo.IsNetworkError(err), errors.Is(err, mongo.ErrClientDisconnected):
		return contracts.ErrUnavailable.Msg("chat store unavailable during %s", op).Wrap(err)
	}
	return contracts.ErrInternal.Msg("chat store: %s failed", op).Wrap(err)
}

// roomDoc is a room as stored.
type roomDoc struct {
	ID           string   `bson:"_id"`
	ProductID    string   `bson:"product_id"`
	ProductTitle string   `bson:"product_title"`
	ConsumerID   string   `bson:"consumer_id"`
	SellerID     string   `bson:"seller_id"`
	Members      []string `bson:"members"`
	Created      int64    `bson:"created"` // Unix nanoseconds
	Activity     string   `bson:"activity"`
	ConsumerRead string   `bson:"consumer_read"`
	SellerRead   string   `bson:"seller_read"`
	LastPos      string   `bson:"last_pos"` // "" while the room has no message
	Last         *msgDoc  `bson:"last,omitempty"`
}

// msgDoc is a message as stored.
type msgDoc struct {
	ID          string `bson:"_id"`
	RoomID      string `bson:"room_id"`
	SenderID    string `bson:"sender_id"`
	ClientMsgID string `bson:"client_msg_id"`
	Text        string `bson:"text"`
	TS          int64  `bson:"ts"` // Unix nanoseconds: BSON dates only keep milliseconds
	Pos         string `bson:"pos"`
}

func toRoomDoc(r domain.Room) roomDoc {
	d := roomDoc{
		ID: r.ID, ProductID: r.ProductID, ProductTitle: r.ProductTitle, ConsumerID: r.ConsumerID,
		SellerID: r.SellerID, Members: r.Members(), Created: r.CreatedAt.UnixNano(), Activity: string(r.Activity),
		ConsumerRead: string(r.ConsumerRead), SellerRead: string(r.SellerRead),
	}
	if r.Last != nil {
		m := toMsgDoc(*r.Last)
		d.Last, d.LastPos = &m, m.Pos
	}
	return d
}

func (d roomDoc) room() domain.Room {
	r := domain.Room{
		ID: d.ID, ProductID: d.ProductID, ProductTitle: d.ProductTitle, ConsumerID: d.ConsumerID,
		SellerID: d.SellerID, CreatedAt: fromNanos(d.Created), Activity: domain.Pos(d.Activity),
		ConsumerRead: domain.Pos(d.ConsumerRead), SellerRead: domain.Pos(d.SellerRead),
	}
	if d.Last != nil {
		m := d.Last.message()
		r.Last = &m
	}
	return r
}

func toMsgDoc(m domain.Message) msgDoc {
	return msgDoc{ID: m.ID, RoomID: m.RoomID, SenderID: m.SenderID, ClientMsgID: m.ClientMsgID, Text: m.Text,
		TS: m.SentAt.UnixNano(), Pos: string(m.Pos())}
}

func (d msgDoc) message() domain.Message {
	return domain.Message{ID: d.ID, RoomID: d.RoomID, SenderID: d.SenderID, ClientMsgID: d.ClientMsgID, Text: d.Text,
		SentAt: fromNanos(d.TS)}
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
