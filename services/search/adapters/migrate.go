package adapters

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/bus/mongomigrate"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/search/domain"
)

// migrations are the search schema's steps (append-only; see mongomigrate).
var migrations = []mongomigrate.Step{
	{Name: "indexes", Up: func(ctx context.Context, db *mongo.Database) error {
		if err := mongomigrate.CreateIndexes(ctx, db.Collection(collSearches),
			mongomigrate.Index("query_bucket", false, bson.E{Key: "query", Value: 1}, bson.E{Key: "bucket", Value: 1}),
			mongomigrate.Index("bucket", false, bson.E{Key: "bucket", Value: 1}),
		); err != nil {
			return err
		}
		if err := mongomigrate.CreateIndexes(ctx, db.Collection(collRecent),
			mongomigrate.Index("user_query", true, bson.E{Key: "user_id", Value: 1}, bson.E{Key: "query", Value: 1}),
			mongomigrate.Index("user_ts", false, bson.E{Key: "user_id", Value: 1}, bson.E{Key: "ts", Value: -1}),
		); err != nil {
			return err
		}
		return mongomigrate.CreateIndexes(ctx, db.Collection(collPopular),
			mongomigrate.Index("bucket_query", true, bson.E{Key: "bucket", Value: 1}, bson.E{Key: "query", Value: 1}),
			mongomigrate.Index("query_bucket", false, bson.E{Key: "query", Value: 1}, bson.E{Key: "bucket", Value: 1}),
		)
	}},
	{Name: "history and terms in shards", Up: byID},
	{Name: "shards as documents of one collection", Up: shardsAsDocuments},
}

// The second schema's shards: a collection each (history_NN, terms_NN) holding one document.
const (
	legacyHistory = "history"
	legacyTerms   = "terms"
	legacyShardID = "shard"
)

func legacyShard(db *mongo.Database, prefix string, s int) *mongo.Collection {
	return db.Collection(fmt.Sprintf("%s_%02d", prefix, s))
}

// shardsAsDocuments moves each shard collection's document into the histories or counters
// collection, _id = the shard's number, and drops the shard collection. Every instance of the
// previous version must be stopped first: it would keep writing the dropped collections, and
// its writes would be lost (package doc, Upgrades). Rerunning it after a
// crash moves the same documents again; a shard collection dropped already is skipped.
func shardsAsDocuments(ctx context.Context, db *mongo.Database) error {
	for _, m := range []struct {
		prefix, into string
		n            int
	}{{legacyHistory, collHistories, historyShards}, {legacyTerms, collTerms, termShards}} {
		into := db.Collection(m.into)
		for s := range m.n {
			old := legacyShard(db, m.prefix, s)
			var d bson.D
			err := old.FindOne(ctx, bson.M{"_id": legacyShardID}).Decode(&d)
			if err != nil && err != mongo.ErrNoDocuments {
				return err
			}
			if err == nil {
				for i := range d {
					if d[i].Key == "_id" {
						d[i].Value = shardDoc(s)
					}
				}
				if _, err := into.ReplaceOne(ctx, bson.M{"_id": shardDoc(s)}, d, options.Replace().SetUpsert(true)); err != nil {
					return err
				}
			}
			if err := old.Drop(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// byID moves the first schema's recent (a document per user and query) and popular (a document
// per query and bucket) into the second schema's shards (history_NN and terms_NN),
// drops them, and drops the journal's query index (nothing counts the journal any more).
// Rerunning it after a crash rebuilds the same documents.
func byID(ctx context.Context, db *mongo.Database) error {
	var recent []struct {
		UserID string `bson:"user_id"`
		Query  string `bson:"query"`
		TS     int64  `bson:"ts"`
	}
	if err := findAll(ctx, db.Collection(collRecent), &recent); err != nil {
		return err
	}
	byUser := map[string][]domain.Recent{}
	for _, d := range recent {
		byUser[d.UserID] = append(byUser[d.UserID], domain.Recent{Query: d.Query, At: fromNanos(d.TS)})
	}
	shards := map[int]bson.M{}
	for user, add := range byUser {
		items, _ := merge(nil, add, contracts.SearchRecentMax)
		id := historyShard(user)
		if shards[id] == nil {
			shards[id] = bson.M{}
		}
		shards[id][fieldKey(user)] = encodeItems(items)
	}
	replace := options.Replace().SetUpsert(true)
	for s, u := range shards {
		if _, err := legacyShard(db, legacyHistory, s).ReplaceOne(ctx, bson.M{"_id": legacyShardID},
			bson.M{"_id": legacyShardID, "u": u}, replace); err != nil {
			return err
		}
	}

	var popular []struct {
		Query  string    `bson:"query"`
		Bucket time.Time `bson:"bucket"`
		N      int64     `bson:"n"`
	}
	if err := findAll(ctx, db.Collection(collPopular), &popular); err != nil {
		return err
	}
	terms := map[int]map[string]int64{}
	for _, d := range popular {
		s := termShard(d.Query)
		if terms[s] == nil {
			terms[s] = map[string]int64{}
		}
		terms[s][counterKey(d.Query, d.Bucket)] += d.N
	}
	for s, t := range terms {
		if _, err := legacyShard(db, legacyTerms, s).ReplaceOne(ctx, bson.M{"_id": legacyShardID},
			termsDoc{ID: legacyShardID, T: t}, replace); err != nil {
			return err
		}
	}
	for _, c := range []string{collRecent, collPopular} {
		if err := db.Collection(c).Drop(ctx); err != nil {
			return err
		}
	}
	if err := db.Collection(collSearches).Indexes().DropOne(ctx, "query_bucket"); err != nil && !isIndexNotFound(err) {
		return err
	}
	return mongomigrate.CreateIndexes(ctx, db.Collection(collBatches),
		mongomigrate.Index("at", false, bson.E{Key: "at", Value: 1}))
}

func findAll(ctx context.Context, c *mongo.Collection, out any) error {
	cur, err := c.Find(ctx, bson.M{})
	if err != nil {
		return err
	}
	return cur.All(ctx, out)
}

// isIndexNotFound tells a drop of an index that is gone already (a rerun).
func isIndexNotFound(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && (ce.Code == 27 || ce.Name == "IndexNotFound")
}

// Migrate brings db's schema (its indexes) to the latest version.
func Migrate(ctx context.Context, db *mongo.Database) error {
	return mongomigrate.Up(ctx, db, migrations, "search")
}

// Version returns the schema version recorded in db (0 before the first migration).
func Version(ctx context.Context, db *mongo.Database) (int, error) {
	return mongomigrate.Version(ctx, db)
}

// LatestVersion is the version Migrate brings a database to.
func LatestVersion() int { return len(migrations) }
