package adapters

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// migration is one schema step. Steps are append-only: a released step is never edited, a
// change is a new step. Each step must be safe to run twice (index creation is), because the
// version is recorded after the step and a crash in between repeats it.
type migration struct {
	name string
	up   func(ctx context.Context, db *mongo.Database) error
}

var migrations = []migration{
	{"indexes", func(ctx context.Context, db *mongo.Database) error {
		if err := createIndexes(ctx, db.Collection(collRooms),
			// The room id is derived from these two already; the index states the rule where
			// the data is, so no other writer can break it.
			index("product_consumer", true, bson.E{Key: "product_id", Value: 1}, bson.E{Key: "consumer_id", Value: 1}),
			index("members_activity", false, bson.E{Key: "members", Value: 1}, bson.E{Key: "activity", Value: -1}),
		); err != nil {
			return err
		}
		return createIndexes(ctx, db.Collection(collMessages),
			index("room_sender_client_msg", true,
				bson.E{Key: "room_id", Value: 1}, bson.E{Key: "sender_id", Value: 1}, bson.E{Key: "client_msg_id", Value: 1}),
			index("room_pos", false, bson.E{Key: "room_id", Value: 1}, bson.E{Key: "pos", Value: -1}),
		)
	}},
}

// Migrate brings db's schema (its indexes) to the latest version, recorded in the schema
// collection. Instances starting together may both run a step; every step tolerates that.
func Migrate(ctx context.Context, db *mongo.Database) error {
	schema := db.Collection(collSchema)
	cur, err := Version(ctx, db)
	if err != nil {
		return fmt.Errorf("chat: reading schema version: %w", err)
	}
	for v := cur; v < len(migrations); v++ {
		m := migrations[v]
		if err := m.up(ctx, db); err != nil {
			return fmt.Errorf("chat: migration %d (%s): %w", v+1, m.name, err)
		}
		// $max: a slower instance finishing an older step must not move the version back.
		_, err := schema.UpdateOne(ctx, bson.M{"_id": "version"},
			bson.M{"$max": bson.M{"version": v + 1}}, options.UpdateOne().SetUpsert(true))
		if err != nil && !mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("chat: recording schema version %d: %w", v+1, err)
		}
	}
	return nil
}

// Version returns the schema version recorded in db (0 before the first migration).
func Version(ctx context.Context, db *mongo.Database) (int, error) {
	var cur struct {
		Version int `bson:"version"`
	}
	err := db.Collection(collSchema).FindOne(ctx, bson.M{"_id": "version"}).Decode(&cur)
	if err == mongo.ErrNoDocuments {
		return 0, nil
	}
	return cur.Version, err
}

// LatestVersion is the version Migrate brings a database to.
func LatestVersion() int { return len(migrations) }

func index(name string, unique bool, keys ...bson.E) mongo.IndexModel {
	return mongo.IndexModel{Keys: bson.D(keys), Options: options.Index().SetName(name).SetUnique(unique)}
}

func createIndexes(ctx context.Context, c *mongo.Collection, models ...mongo.IndexModel) error {
	_, err := c.Indexes().CreateMany(ctx, models)
	return err
}
