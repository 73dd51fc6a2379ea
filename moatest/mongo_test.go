package moatest_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/internal/docstore"
	"github.com/moa-run/moa/moatest"
)

func TestMongoDBInsertFind(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := moatest.MongoDB(t)
	other := moatest.MongoDB(t)
	if db.Name() == other.Name() {
		t.Fatalf("two MongoDB calls gave the same database %s", db.Name())
	}
	if _, err := db.Collection("people").InsertOne(ctx, bson.D{{Key: "name", Value: "Ada"}}); err != nil {
		t.Fatal(err)
	}
	var got struct{ Name string }
	if err := db.Collection("people").FindOne(ctx, bson.D{{Key: "name", Value: "Ada"}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "Ada" {
		t.Fatalf("found %+v", got)
	}
	if n, err := other.Collection("people").CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Fatalf("other database has %d documents (%v), want 0", n, err)
	}
}

// MOA_TEST_MONGO_URL sends every MongoDB-backed test to the server it names
// instead of an embedded store. No MongoDB runs here, so the test points it
// at an embedded store of its own and checks that MongoDB used that one.
func TestMongoDBUsesMOATestMongoURL(t *testing.T) {
	ctx := t.Context()
	store, err := docstore.Start(ctx, docstore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	t.Setenv(moatest.EnvMongoURL, store.URI())
	if got := moatest.Mongo(t); got != store.URI() {
		t.Fatalf("Mongo = %s, want %s", got, store.URI())
	}
	db := moatest.MongoDB(t)
	if _, err := db.Collection("c").InsertOne(ctx, bson.D{{Key: "v", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	direct, err := mongo.Connect(options.Client().ApplyURI(store.URI()))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Disconnect(ctx)
	if n, err := direct.Database(db.Name()).Collection("c").CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Fatalf("the named server has %d documents in %s (%v), want 1", n, db.Name(), err)
	}
}
