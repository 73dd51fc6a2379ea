package adapters

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/moa-run/moa/bus/mongomigrate"
)

// migrations are the log schema's steps (append-only; see mongomigrate). Every hot read and
// write goes by _id; the indexes serve the janitor and the relay on MongoDB.
var migrations = []mongomigrate.Step{
	{Name: "indexes", Up: func(ctx context.Context, db *mongo.Database) error {
		if err := mongomigrate.CreateIndexes(ctx, db.Collection(collVisits),
			mongomigrate.Index("window", false, bson.E{Key: "w", Value: 1})); err != nil {
			return err
		}
		return mongomigrate.CreateIndexes(ctx, db.Collection(collOutbox),
			mongomigrate.Index("sent_created", false, bson.E{Key: "sent", Value: 1}, bson.E{Key: "created", Value: 1}))
	}},
}

// Migrate brings db's schema (its indexes) to the latest version.
func Migrate(ctx context.Context, db *mongo.Database) error {
	return mongomigrate.Up(ctx, db, migrations, "log")
}
