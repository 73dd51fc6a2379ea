// Package adapters stores the search history in MongoDB (FerretDB in tests and `moa dev`).
//
// Collections:
//
//	searches  the journal: one document per recorded search, _id = search id (the event id for
//	          searches learnt from events), so a redelivered event finds its entry instead of
//	          counting again; kept for domain.Retention.
//	recent    one document per (user, query), unique on both; ts is the last time searched.
//	popular   one counter per (bucket, query), recomputed from the journal.
//	schema    the migration version.
//
// Only features FerretDB 1.24 supports are used (see internal/docstore): no transactions, no
// TTL indexes (the app's janitor expires documents), no text indexes (prefix matching is an
// anchored $regex on an escaped prefix).
package adapters

import (
	"context"
	"errors"
	"regexp"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/search/app"
)

// Collection names.
const (
	collSearches = "searches"
	collRecent   = "recent"
	collPopular  = "popular"
)

// Repository implements app.Repository on a MongoDB database.
type Repository struct {
	db       *mongo.Database
	searches *mongo.Collection
	recent   *mongo.Collection
	popular  *mongo.Collection
}

var _ app.Repository = (*Repository)(nil)

// NewRepository returns the repository over db. Run Migrate first.
func NewRepository(db *mongo.Database) *Repository {
	return &Repository{
		db:       db,
		searches: db.Collection(collSearches),
		recent:   db.Collection(collRecent),
		popular:  db.Collection(collPopular),
	}
}

// storeError maps a driver error onto the catalogue: the store being unreachable or slow is
// worth a retry; anything else is a bug or a broken store.
func storeError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded), mongo.IsTimeout(err):
		return contracts.ErrTimeout.Msg("search store: %s timed out", op).Wrap(err)
	case errors.Is(err, context.Canceled):
		return contracts.ErrCanceled.Msg("search store: %s canceled", op).Wrap(err)
	case mongo.IsNetworkError(err), errors.Is(err, mongo.ErrClientDisconnected):
		return contracts.ErrUnavailable.Msg("search store unavailable during %s", op).Wrap(err)
	}
	return contracts.ErrInternal.Msg("search store: %s failed", op).Wrap(err)
}

// upsert runs an upserting update and repeats it once on a duplicate key error: two upserts of
// the same new document can race, and then the loser's insert fails although a plain update
// would now succeed.
func upsert(ctx context.Context, c *mongo.Collection, filter, update any) error {
	opts := options.UpdateOne().SetUpsert(true)
	_, err := c.UpdateOne(ctx, filter, update, opts)
	if mongo.IsDuplicateKeyError(err) {
		_, err = c.UpdateOne(ctx, filter, update, opts)
	}
	return err
}

// prefixFilter matches strings starting with prefix, taken literally.
func prefixFilter(prefix string) bson.M {
	return bson.M{"$regex": "^" + regexp.QuoteMeta(prefix)}
}

// nanos and fromNanos store times as int64 nanoseconds: BSON dates have millisecond
// precision, and two searches in the same millisecond must still be ordered.
func nanos(t time.Time) int64     { return t.UnixNano() }
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
