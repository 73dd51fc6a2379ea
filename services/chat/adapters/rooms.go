package adapters

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/chat/domain"
)

// CreateRoom inserts r; when the room exists (opened before, or by a concurrent call), the
// stored one wins.
func (r *Repository) CreateRoom(ctx context.Context, room domain.Room) (domain.Room, error) {
	_, err := r.rooms.InsertOne(ctx, toRoomDoc(room))
	if mongo.IsDuplicateKeyError(err) {
		return r.Room(ctx, room.ID)
	}
	if err != nil {
		return domain.Room{}, storeError("room insert", err)
	}
	return room, nil
}

// Room returns one room.
func (r *Repository) Room(ctx context.Context, id string) (domain.Room, error) {
	if err := r.w.syncRoom(ctx, id); err != nil {
		return domain.Room{}, err
	}
	return r.storedRoom(ctx, id)
}

// storedRoom reads a room as stored, without waiting for what the writer records behind.
func (r *Repository) storedRoom(ctx context.Context, id string) (domain.Room, error) {
	var d roomDoc
	err := r.rooms.FindOne(ctx, bson.M{"_id": id}).Decode(&d)
	if err == mongo.ErrNoDocuments {
		return domain.Room{}, contracts.ErrNotFound.OnField("room_id", "no chat room %s", id)
	}
	if err != nil {
		return domain.Room{}, storeError("room read", err)
	}
	return d.room(), nil
}

// AdvanceRead moves side's read position forward with $max, which never moves it back whatever
// order concurrent calls arrive in.
func (r *Repository) AdvanceRead(ctx context.Context, roomID string, side domain.Side, pos domain.Pos) (before, after domain.Pos, err error) {
	field := readField(side)
	// The position before must count the reader's own messages recorded behind (writer).
	if err := r.w.syncRoom(ctx, roomID); err != nil {
		return "", "", err
	}
	// FerretDB reads, modifies and writes the document without isolation: the writer's
	// flusher updates rooms too (see docLocks).
	defer r.locks.lock(roomID)()
	var d roomDoc
	err = r.rooms.FindOneAndUpdate(ctx, bson.M{"_id": roomID}, bson.M{"$max": bson.M{field: string(pos)}},
		options.FindOneAndUpdate().SetReturnDocument(options.Before)).Decode(&d)
	if err == mongo.ErrNoDocuments {
		return "", "", contracts.ErrNotFound.OnField("room_id", "no chat room %s", roomID)
	}
	if err != nil {
		return "", "", storeError("read position update", err)
	}
	before = domain.Pos(d.ConsumerRead)
	if side == domain.SideSeller {
		before = domain.Pos(d.SellerRead)
	}
	return before, max(before, pos), nil
}

// newestActive orders a user's rooms; activity positions are unique, so pages are stable.
var newestActive = bson.D{{Key: "activity", Value: -1}}

// Rooms lists userID's rooms by activity.
func (r *Repository) Rooms(ctx context.Context, userID string, before domain.Pos, limit int) ([]domain.Room, error) {
	return r.findRooms(ctx, userID, roomsFilter(userID, before), options.Find().SetSort(newestActive).SetLimit(int64(limit)))
}

// roomsFilter is Rooms' filter: the members_activity index on MongoDB.
func roomsFilter(userID string, before domain.Pos) bson.M {
	filter := bson.M{"members": userID}
	if before != "" {
		filter["activity"] = bson.M{"$lt": string(before)}
	}
	return filter
}

// RoomsAwaiting lists userID's rooms whose last message someone else sent.
func (r *Repository) RoomsAwaiting(ctx context.Context, userID string) ([]domain.Room, error) {
	return r.findRooms(ctx, userID, bson.M{"members": userID, "last_pos": bson.M{"$gt": ""}, "last.sender_id": bson.M{"$ne": userID}},
		options.Find().SetProjection(bson.M{"last.text": 0}))
}

// findRooms lists userID's rooms that match filter, once what the writer has pending for them
// is recorded.
func (r *Repository) findRooms(ctx context.Context, userID string, filter bson.M, opts *options.FindOptionsBuilder) ([]domain.Room, error) {
	// Every room a message was sent in is in the members cache (Send reads it); one that is
	// not, say after an eviction, is flushed to be safe.
	if err := r.w.sync(ctx, func(id string) bool {
		room, ok := r.members.get(id)
		return !ok || room.IsMember(userID)
	}); err != nil {
		return nil, err
	}
	cur, err := r.rooms.Find(ctx, filter, opts)
	if err != nil {
		return nil, storeError("room list", err)
	}
	var docs []roomDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, storeError("room list", err)
	}
	out := make([]domain.Room, len(docs))
	for i, d := range docs {
		out[i] = d.room()
	}
	return out, nil
}

func readField(side domain.Side) string {
	if side == domain.SideSeller {
		return "seller_read"
	}
	return "consumer_read"
}
