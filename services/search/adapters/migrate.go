package adapters

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

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
	{Name: "history and terms by _id", Up: byID},
}

// byID moves the first schema's recent (a document per user and query) and popular (a document
// per query and bucket) into history (a document per user) and terms (a document per query),
// drops them, and drops the journal's query index (nothing counts the journal any more).
// Rerunning it after a crash rebuilds the same documents.
func byID(ctx context.Context, db *mongo.Database) error {
	var recent []struct {
		UserID string `bson:"user_id"`
		Query  string `bson:"query"`
		TS     int64  `bson:"ts"`
	}
	if err := all(ctx, db.Collection(collRecent), &recent); err != nil {
		return err
	}
	histories := map[string][]historyItem{}
	for _, d := range recent {
		histories[d.UserID] = append(histories[d.UserID], historyItem{Query: d.Query, TS: d.TS})
	}
	var models []mongo.WriteModel
	for user, items := range histories {
		items, _ = merge(nil, recents(items), contracts.SearchRecentMax)
		models = append(models, mongo.NewReplaceOneModel().SetFilter(bson.M{"_id": user}).SetUpsert(true).
			SetReplacement(historyDoc{UserID: user, Items: items}))
	}
	r := NewRepository(db)
	if err := r.bulk(ctx, r.histories, models); err != nil {
		return err
	}

	var popular []struct {
		Query  string    `bson:"query"`
		Bucket time.Time `bson:"bucket"`
		N      int64     `bson:"n"`
	}
	if err := all(ctx, db.Collection(collPopular), &popular); err != nil {
		return err
	}
	terms := map[string]map[string]int64{}
	for _, d := range popular {
		if terms[d.Query] == nil {
			terms[d.Query] = map[string]int64{}
		}
		terms[d.Query][bucketKey(d.Bucket)] += d.N
	}
	models = models[:0]
	for q, b := range terms {
		models = append(models, mongo.NewReplaceOneModel().SetFilter(bson.M{"_id": q}).SetUpsert(true).
			SetReplacement(termDoc{Query: q, B: b}))
	}
	if err := r.bulk(ctx, r.terms, models); err != nil {
		return err
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

func all(ctx context.Context, c *mongo.Collection, out any) error {
	cur, err := c.Find(ctx, bson.M{})
	if err != nil {
		return err
	}
	return cur.All(ctx, out)
}

func recents(items []historyItem) []domain.Recent {
	out := make([]domain.Recent, len(items))
	for i, it := range items {
		out[i] = domain.Recent{Query: it.Query, At: fromNanos(it.TS)}
	}
	return out
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
