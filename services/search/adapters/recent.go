package adapters

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/services/search/domain"
)

// recentDoc is one entry of a user's history.
type recentDoc struct {
	ID     bson.ObjectID `bson:"_id,omitempty"`
	UserID string        `bson:"user_id"`
	Query  string        `bson:"query"`
	TS     int64         `bson:"ts"`
}

// newestFirst orders a history; the query breaks ties so that pages are stable.
var newestFirst = bson.D{{Key: "ts", Value: -1}, {Key: "query", Value: 1}}

// TouchRecent upserts (user, query) with $max on the time, so that re-searching moves the
// query to the top, and repeating the step, or applying an older search late, changes nothing.
// The trim then deletes whatever is past the keep newest.
func (r *Repository) TouchRecent(ctx context.Context, s domain.Search, keep int) error {
	defer docLocks.lock("recent:" + s.UserID)()
	err := upsert(ctx, r.recent,
		bson.M{"user_id": s.UserID, "query": s.Query},
		bson.M{"$max": bson.M{"ts": nanos(s.At)}})
	if err != nil {
		return storeError("recent upsert", err)
	}
	cur, err := r.recent.Find(ctx, bson.M{"user_id": s.UserID},
		options.Find().SetSort(newestFirst).SetSkip(int64(keep)).SetProjection(bson.M{"_id": 1}))
	if err != nil {
		return storeError("recent trim", err)
	}
	var old []recentDoc
	if err := cur.All(ctx, &old); err != nil {
		return storeError("recent trim", err)
	}
	if len(old) == 0 {
		return nil
	}
	ids := make([]bson.ObjectID, len(old))
	for i, d := range old {
		ids[i] = d.ID
	}
	_, err = r.recent.DeleteMany(ctx, bson.M{"_id": bson.M{"$in": ids}})
	return storeError("recent trim", err)
}

// Recent lists the user's history, newest first.
func (r *Repository) Recent(ctx context.Context, userID, prefix string, limit int) ([]domain.Recent, error) {
	filter := bson.M{"user_id": userID}
	if prefix != "" {
		filter["query"] = prefixFilter(prefix)
	}
	cur, err := r.recent.Find(ctx, filter, options.Find().SetSort(newestFirst).SetLimit(int64(limit)))
	if err != nil {
		return nil, storeError("recent list", err)
	}
	var docs []recentDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, storeError("recent list", err)
	}
	out := make([]domain.Recent, len(docs))
	for i, d := range docs {
		out[i] = domain.Recent{Query: d.Query, At: fromNanos(d.TS)}
	}
	return out, nil
}

// DeleteRecent removes one query of the user.
func (r *Repository) DeleteRecent(ctx context.Context, userID, query string) (bool, error) {
	res, err := r.recent.DeleteOne(ctx, bson.M{"user_id": userID, "query": query})
	if err != nil {
		return false, storeError("recent delete", err)
	}
	return res.DeletedCount > 0, nil
}

// ClearRecent removes the user's whole history.
func (r *Repository) ClearRecent(ctx context.Context, userID string) (int64, error) {
	res, err := r.recent.DeleteMany(ctx, bson.M{"user_id": userID})
	if err != nil {
		return 0, storeError("recent clear", err)
	}
	return res.DeletedCount, nil
}
