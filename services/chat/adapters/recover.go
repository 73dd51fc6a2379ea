package adapters

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/services/chat/domain"
)

// recoverWindow is how far before the latest recorded room activity Recover looks for messages
// not recorded in their rooms. A message is recorded within flushEvery of its insert while the
// store answers; only a store that failed the room updates for longer than this, followed by a
// crash, leaves a room's summary behind (its messages are stored all the same, and the room's
// next message brings the summary up to date).
const recoverWindow = time.Minute

// Recover records in their rooms the messages a crash may have left unrecorded: an
// acknowledged message is stored, but its room's summary follows behind (see writer). It reads
// the messages stored from recoverWindow before the latest room activity on, which the "pos"
// index serves on MongoDB; applying a message that is recorded already changes nothing.
func (r *Repository) Recover(ctx context.Context) error {
	var latest roomDoc
	err := r.rooms.FindOne(ctx, bson.M{}, options.FindOne().SetSort(newestActive).SetProjection(bson.M{"activity": 1})).Decode(&latest)
	if err == mongo.ErrNoDocuments {
		return nil // no room, so no message
	}
	if err != nil {
		return storeError("recovery", err)
	}
	from := domain.PosOf(posTime(domain.Pos(latest.Activity)).Add(-recoverWindow), "")
	cur, err := r.messages.Find(ctx, bson.M{"pos": bson.M{"$gt": string(from)}})
	if err != nil {
		return storeError("recovery", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d msgDoc
		if err := cur.Decode(&d); err != nil {
			return storeError("recovery", err)
		}
		room, err := r.Members(ctx, d.RoomID)
		if err != nil {
			return err
		}
		m := d.message()
		s := r.w.shardOf(m.RoomID)
		s.mu.Lock()
		s.pend(m, room.SideOf(m.SenderID), time.Now())
		s.mu.Unlock()
	}
	if err := cur.Err(); err != nil {
		return storeError("recovery", err)
	}
	return r.w.sync(ctx, nil)
}

// posTime is the time a position was taken at (zero for the zero position).
func posTime(p domain.Pos) time.Time {
	var n int64
	for _, c := range string(p) {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	return time.Unix(0, n)
}
