package moatest_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

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
