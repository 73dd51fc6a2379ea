// Package adapters stores the search history in MongoDB (FerretDB in tests and `moa dev`).
//
// Collections:
//
//	searches  the journal: one document per recorded search, _id = search id (the event id for
//	          searches learnt from events), tagged with the batch that applied it, so that a
//	          redelivered event finds its entry instead of counting again; kept for
//	          domain.Retention.
//	batches   one document per completed batch, _id = batch id: its searches are applied.
//	histories the users' histories in historyShards documents (see shards.go): per user the
//	          newest queries (at most contracts.SearchRecentMax), each with the last time it
//	          was searched.
//	counters  the popular counters in termShards documents: per query its count per hourly
//	          bucket; per epoch the last batch counted into the shard (see app.Repository).
//	schema    the migration version.
//
// The shard layout's limit is MongoDB's 16 MiB per document: some 250,000 users' histories and
// 4 million (query, hour) counters at once (shards.go); a user's history that would grow a
// shard past it is refused with a message that says so (the other users' are written). Every batch and every recent read also reads a whole history shard, so
// the shards cost more the more users there are, long before the limit.
//
// A batch inserts into the journal, reads its history shards with one find, writes them with
// one bulk update and the counters with another, and records itself: the embedded FerretDB
// costs a round trip through its wire protocol per command, and the first layouts' command per
// search, then per shard, is what kept recording at 8, then about a thousand events/s
// (issue 13).
//
// Writes go in batches, at most updateChunk statements per command: FerretDB deadlocks on an
// update command of about a hundred statements. A batch's writes go one command after the
// other, never at once: on the embedded FerretDB's SQLite backend write transactions of one
// database wait for each other by sleeping in SQLite's busy handler (1, 2, 5, 10… ms), so
// sixteen shard updates at once (when the shards were collections) took longer than sixteen in
// a row (BenchmarkCatalogSearched at 1,000 events/s, 2026-12-06: a batch's history step
// 122 ms → 101 ms, recent p99 137 ms → 39 ms, single runs on a machine at load 9). Reads do
// not wait for writes (SQLite's WAL).
//
// Upgrades: schema step 3 (shards as documents of one collection) moves the documents of the
// history_NN and terms_NN collections and drops those collections. A binary of schema 2 keeps
// writing them (recreating them on its next write), and nothing of this version reads them:
// every search instance must be stopped before an instance of schema 3 or later starts on the
// database; a rolling upgrade across step 3 is not supported. (The binaries of schema 2 do not
// check the recorded version, so this cannot be enforced from here.)
//
// Only features FerretDB 1.24 supports are used (see internal/docstore): no transactions, no
// TTL indexes (the app's janitor expires documents), no text indexes (prefix matching is done
// on the documents read).
package adapters

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/search/app"
)

// Collection names; recent and popular are the first schema's, history_NN and terms_NN the
// second's (see migrate.go).
const (
	collSearches  = "searches"
	collBatches   = "batches"
	collHistories = "histories"
	collTerms     = "counters"
	collRecent    = "recent"
	collPopular   = "popular"
)

// Statements per command: insertChunk journal entries, updateChunk updates.
const (
	insertChunk = 64
	updateChunk = 16
)

// Repository implements app.Repository on a MongoDB database.
type Repository struct {
	db        *mongo.Database
	searches  *mongo.Collection
	batches   *mongo.Collection
	histories *mongo.Collection // shards.go
	terms     *mongo.Collection

	termsMu  sync.Mutex // see AddPopular
	maxShard int        // maxShardBytes but in tests
}

var _ app.Repository = (*Repository)(nil)

// NewRepository returns the repository over db. Run Migrate first.
func NewRepository(db *mongo.Database) *Repository {
	return &Repository{
		db:        db,
		searches:  db.Collection(collSearches),
		batches:   db.Collection(collBatches),
		histories: db.Collection(collHistories),
		terms:     db.Collection(collTerms),
		maxShard:  maxShardBytes,
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

// bulk runs models unordered, updateChunk per command. A statement that fails with a
// duplicate key error is run once more: two upserts of the same new document can race, and
// then the loser's insert fails although an update would now succeed.
func (r *Repository) bulk(ctx context.Context, c *mongo.Collection, models []mongo.WriteModel) error {
	opts := options.BulkWrite().SetOrdered(false)
	for lo := 0; lo < len(models); lo += updateChunk {
		chunk := models[lo:min(lo+updateChunk, len(models))]
		_, err := c.BulkWrite(ctx, chunk, opts)
		var bwe mongo.BulkWriteException
		if err == nil || !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
			if err != nil {
				return err
			}
			continue
		}
		var again []mongo.WriteModel
		for _, we := range bwe.WriteErrors {
			if !mongo.IsDuplicateKeyError(we) {
				return err
			}
			again = append(again, chunk[we.Index])
		}
		if _, err := c.BulkWrite(ctx, again, opts); err != nil {
			return err
		}
	}
	return nil
}

// nanos and fromNanos store times as int64 nanoseconds: BSON dates have millisecond
// precision, and two searches in the same millisecond must still be ordered.
func nanos(t time.Time) int64     { return t.UnixNano() }
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
