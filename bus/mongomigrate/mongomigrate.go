// Package mongomigrate versions a MongoDB service's schema (its indexes), the document-store
// counterpart of pgmigrate. Steps are append-only: a released step is never edited, a change is
// a new step. Each step must be safe to run twice (index creation is), because the version is
// recorded after the step, a crash in between repeats it, and instances starting together may
// both run it.
package mongomigrate

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Collection holds the version document of a database's schema.
const Collection = "schema"

// Step is one schema step.
type Step struct {
	Name string
	Up   func(ctx context.Context, db *mongo.Database) error
}

// Up runs the steps db has not seen yet, in order, recording the version after each. name
// prefixes errors.
func Up(ctx context.Context, db *mongo.Database, steps []Step, name string) error {
	cur, err := Version(ctx, db)
	if err != nil {
		return fmt.Errorf("%s: reading schema version: %w", name, err)
	}
	schema := db.Collection(Collection)
	for v := cur; v < len(steps); v++ {
		if err := steps[v].Up(ctx, db); err != nil {
			return fmt.Errorf("%s: migration %d (%s): %w", name, v+1, steps[v].Name, err)
		}
		// $max: a slower instance finishing an older step must not move the version back.
		_, err := schema.UpdateOne(ctx, bson.M{"_id": "version"},
			bson.M{"$max": bson.M{"version": v + 1}}, options.UpdateOne().SetUpsert(true))
		if err != nil && !mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("%s: recording schema version %d: %w", name, v+1, err)
		}
	}
	return nil
}

// Version returns the schema version recorded in db (0 before the first step).
func Version(ctx context.Context, db *mongo.Database) (int, error) {
	var cur struct {
		Version int `bson:"version"`
	}
	err := db.Collection(Collection).FindOne(ctx, bson.M{"_id": "version"}).Decode(&cur)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	return cur.Version, err
}

// Index describes a named index on keys.
func Index(name string, unique bool, keys ...bson.E) mongo.IndexModel {
	return mongo.IndexModel{Keys: bson.D(keys), Options: options.Index().SetName(name).SetUnique(unique)}
}

// CreateIndexes creates models on c (creating an existing identical index is a no-op).
func CreateIndexes(ctx context.Context, c *mongo.Collection, models ...mongo.IndexModel) error {
	_, err := c.Indexes().CreateMany(ctx, models)
	return err
}
