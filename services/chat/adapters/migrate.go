package adapters

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/moa-run/moa/bus/mongomigrate"
)

// migrations are the chat schema's steps (append-only; see mongomigrate).
var migrations = []mongomigrate.Step{
	{Name: "indexes", Up: func(ctx context.Context, db *mongo.Database) error {
		if err := mongomigrate.CreateIndexes(ctx, db.Collection(collRooms),
			// The room id is derived from these two already; the index states the rule where
			// the data is, so no other writer can break it.
			mongomigrate.Index("product_consumer", true, bson.E{Key: "product_id", Value: 1}, bson.E{Key: "consumer_id", Value: 1}),
			mongomigrate.Index("members_activity", false, bson.E{Key: "members", Value: 1}, bson.E{Key: "activity", Value: -1}),
		); err != nil {
			return err
		}
		return mongomigrate.CreateIndexes(ctx, db.Collection(collMessages),
			mongomigrate.Index("room_sender_client_msg", true,
				bson.E{Key: "room_id", Value: 1}, bson.E{Key: "sender_id", Value: 1}, bson.E{Key: "client_msg_id", Value: 1}),
			mongomigrate.Index("room_pos", false, bson.E{Key: "room_id", Value: 1}, bson.E{Key: "pos", Value: -1}),
		)
	}},
	// Recover reads the messages stored last, over all rooms.
	{Name: "messages_pos", Up: func(ctx context.Context, db *mongo.Database) error {
		return mongomigrate.CreateIndexes(ctx, db.Collection(collMessages),
			mongomigrate.Index("pos", false, bson.E{Key: "pos", Value: 1}))
	}},
}

// Migrate brings db's schema (its indexes) to the latest version.
func Migrate(ctx context.Context, db *mongo.Database) error {
	return mongomigrate.Up(ctx, db, migrations, "chat")
}

// Version returns the schema version recorded in db (0 before the first migration).
func Version(ctx context.Context, db *mongo.Database) (int, error) {
	return mongomigrate.Version(ctx, db)
}

// LatestVersion is the version Migrate brings a database to.
func LatestVersion() int { return len(migrations) }
