package adapters

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/chat/domain"
)

// AppendMessage stores m and records it in its room, in the next batch of the writer. The
// unique index on (room, sender, client message id) turns a repeated send into a duplicate,
// resolved to the message stored first.
func (r *Repository) AppendMessage(ctx context.Context, m domain.Message, side domain.Side) (domain.Message, bool, error) {
	return r.w.append(ctx, m, side)
}

// Message returns message id of roomID.
func (r *Repository) Message(ctx context.Context, roomID, id string) (domain.Message, error) {
	// By _id alone, then the room checked here: FerretDB on SQLite pushes a filter on _id
	// alone down to SQL, and decodes every document in Go for any other (see mongo.go).
	var d msgDoc
	err := r.messages.FindOne(ctx, bson.M{"_id": id}).Decode(&d)
	if err == nil && d.RoomID != roomID {
		err = mongo.ErrNoDocuments
	}
	if err == mongo.ErrNoDocuments {
		return domain.Message{}, contracts.ErrNotFound.Msg("room %s has no message %s", roomID, id)
	}
	if err != nil {
		return domain.Message{}, storeError("message read", err)
	}
	return d.message(), nil
}

// History pages a room's messages by position, newest first.
func (r *Repository) History(ctx context.Context, roomID string, before domain.Pos, limit int) ([]domain.Message, error) {
	filter, sort := historyQuery(roomID, before)
	cur, err := r.messages.Find(ctx, filter, options.Find().SetSort(sort).SetLimit(int64(limit)))
	if err != nil {
		return nil, storeError("history", err)
	}
	var docs []msgDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, storeError("history", err)
	}
	out := make([]domain.Message, len(docs))
	for i, d := range docs {
		out[i] = d.message()
	}
	return out, nil
}

// CountUnread counts the other member's messages after the reader's position.
func (r *Repository) CountUnread(ctx context.Context, roomID, readerID string, after domain.Pos) (int64, error) {
	n, err := r.messages.CountDocuments(ctx, unreadFilter(roomID, readerID, after))
	return n, storeError("unread count", err)
}

// historyQuery is History's filter and sort: the room_pos index on MongoDB.
func historyQuery(roomID string, before domain.Pos) (filter bson.M, sort bson.D) {
	filter = bson.M{"room_id": roomID}
	if before != "" {
		filter["pos"] = bson.M{"$lt": string(before)}
	}
	return filter, bson.D{{Key: "pos", Value: -1}}
}

// unreadFilter is CountUnread's filter: the room_pos index on MongoDB.
func unreadFilter(roomID, readerID string, after domain.Pos) bson.M {
	return bson.M{"room_id": roomID, "pos": bson.M{"$gt": string(after)}, "sender_id": bson.M{"$ne": readerID}}
}
