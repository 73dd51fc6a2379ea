package moatest

import (
	"context"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/internal/docstore"
)

// EnvMongoURL names an existing MongoDB server for Mongo to use.
const EnvMongoURL = "MOA_TEST_MONGO_URL"

const mongoTimeout = 30 * time.Second

// Mongo returns the URI of a MongoDB-compatible server for this test:
// MOA_TEST_MONGO_URL when set, else an embedded FerretDB (see
// internal/docstore for what it does not support) storing its files in
// t.TempDir() and stopped when the test ends. With MOA_TEST_MONGO_URL
// tests share one server; MongoDB gives each its own database.
func Mongo(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvMongoURL); u != "" {
		return u
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), mongoTimeout)
	defer cancel()
	store, err := docstore.Start(ctx, docstore.Config{Dir: dir})
	if err != nil {
		t.Fatalf("moatest.Mongo: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	return store.URI()
}

// MongoDB returns a database with a unique name on Mongo(t)'s server. At
// the end of the test the database is dropped and the client disconnected.
func MongoDB(t testing.TB) *mongo.Database {
	t.Helper()
	uri := Mongo(t)
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("moatest.MongoDB: connect to %s: %v", uri, err)
	}
	db := client.Database(uniqueName(t, "t_", 63))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), mongoTimeout)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			t.Errorf("moatest.MongoDB cleanup: drop %s: %v", db.Name(), err)
		}
		client.Disconnect(ctx)
	})
	return db
}
