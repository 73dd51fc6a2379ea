package adapters

import (
	"context"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/moa-run/moa/services/search/domain"
)

// counterID names the counter of (query, bucket).
func counterID(query string, bucket time.Time) string {
	return strconv.FormatInt(bucket.Unix(), 10) + ":" + query
}

// Recount counts the journal entries of (query, bucket) and raises the counter to that number.
// Concurrent recounts of the same counter are safe: each one counts after its own journal
// insert, so the last count to run sees every insert before it, and $max keeps the largest.
func (r *Repository) Recount(ctx context.Context, query string, bucket time.Time) error {
	defer docLocks.lock(counterID(query, bucket))()
	n, err := r.searches.CountDocuments(ctx, bson.M{"query": query, "bucket": bucket})
	if err != nil {
		return storeError("popular count", err)
	}
	err = upsert(ctx, r.popular,
		bson.M{"_id": counterID(query, bucket)},
		bson.M{"$max": bson.M{"n": n}, "$setOnInsert": bson.M{"query": query, "bucket": bucket}})
	return storeError("popular counter", err)
}

// Popular sums the counters of the window per query.
func (r *Repository) Popular(ctx context.Context, since time.Time, prefix string, limit int) ([]domain.Popular, error) {
	match := bson.M{"bucket": bson.M{"$gte": since}}
	if prefix != "" {
		match["query"] = prefixFilter(prefix)
	}
	cur, err := r.popular.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: match}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$query"}, {Key: "n", Value: bson.M{"$sum": "$n"}}}}},
		{{Key: "$sort", Value: bson.D{{Key: "n", Value: -1}, {Key: "_id", Value: 1}}}},
		{{Key: "$limit", Value: limit}},
	})
	if err != nil {
		return nil, storeError("popular", err)
	}
	var rows []struct {
		Query string `bson:"_id"`
		N     int64  `bson:"n"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, storeError("popular", err)
	}
	out := make([]domain.Popular, len(rows))
	for i, row := range rows {
		out[i] = domain.Popular{Query: row.Query, Count: row.N}
	}
	return out, nil
}
