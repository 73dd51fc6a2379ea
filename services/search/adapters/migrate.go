package adapters

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/moa-run/moa/bus/mongomigrate"
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
