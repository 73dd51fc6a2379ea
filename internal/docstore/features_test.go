package docstore

// These tests pin the support table in the package comment.

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

type doc = bson.D
type kv = bson.E

func TestUniqueIndexDuplicateKey(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	coll := database(t).Collection("users")
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    doc{{Key: "email", Value: 1}},
		Options: options.Index().SetUnique(true),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, doc{{Key: "email", Value: "a@x"}}); err != nil {
		t.Fatal(err)
	}
	_, err := coll.InsertOne(ctx, doc{{Key: "email", Value: "a@x"}})
	if !mongo.IsDuplicateKeyError(err) || !strings.Contains(err.Error(), "E11000") {
		t.Fatalf("InsertOne duplicate: %v, want an E11000 duplicate key error", err)
	}
	_, err = coll.InsertMany(ctx, []any{doc{{Key: "email", Value: "b@x"}}, doc{{Key: "email", Value: "b@x"}}})
	if !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("InsertMany duplicate: %v, want a duplicate key error", err)
	}
}

func TestCRUDAndUpdateOperators(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	coll := database(t).Collection("items")
	if _, err := coll.BulkWrite(ctx, []mongo.WriteModel{
		mongo.NewInsertOneModel().SetDocument(doc{{Key: "name", Value: "apple"}, {Key: "n", Value: 1}}),
		mongo.NewInsertOneModel().SetDocument(doc{{Key: "name", Value: "apricot"}, {Key: "n", Value: 2}}),
		mongo.NewInsertOneModel().SetDocument(doc{{Key: "name", Value: "banana"}, {Key: "n", Value: 3}}),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, doc{{Key: "name", Value: "apple"}},
		doc{{Key: "$inc", Value: doc{{Key: "n", Value: 10}}}, {Key: "$push", Value: doc{{Key: "tags", Value: "red"}}}}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		N    int
		Tags []string
	}
	err := coll.FindOneAndUpdate(ctx, doc{{Key: "name", Value: "apple"}}, doc{{Key: "$set", Value: doc{{Key: "seen", Value: true}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&got)
	if err != nil || got.N != 11 || len(got.Tags) != 1 {
		t.Fatalf("after updates: %+v, %v", got, err)
	}
	if _, err := coll.UpdateOne(ctx, doc{{Key: "name", Value: "cherry"}}, doc{{Key: "$set", Value: doc{{Key: "n", Value: 4}}}},
		options.UpdateOne().SetUpsert(true)); err != nil {
		t.Fatal(err)
	}
	n, err := coll.CountDocuments(ctx, doc{{Key: "name", Value: doc{{Key: "$regex", Value: "^ap"}}}})
	if err != nil || n != 2 {
		t.Fatalf("$regex count = %d, %v; want 2", n, err)
	}
	if n, _ := coll.CountDocuments(ctx, doc{}); n != 4 {
		t.Fatalf("count after upsert = %d, want 4", n)
	}
}

func TestAggregationGroupSortLimit(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	coll := database(t).Collection("orders")
	if _, err := coll.InsertMany(ctx, []any{
		doc{{Key: "customer", Value: "a"}, {Key: "total", Value: 5}, {Key: "items", Value: bson.A{"x", "y"}}},
		doc{{Key: "customer", Value: "a"}, {Key: "total", Value: 7}, {Key: "items", Value: bson.A{"x"}}},
		doc{{Key: "customer", Value: "b"}, {Key: "total", Value: 3}, {Key: "items", Value: bson.A{"z"}}},
	}); err != nil {
		t.Fatal(err)
	}
	cur, err := coll.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: doc{{Key: "total", Value: doc{{Key: "$gt", Value: 1}}}}}},
		{{Key: "$group", Value: doc{{Key: "_id", Value: "$customer"}, {Key: "sum", Value: doc{{Key: "$sum", Value: "$total"}}}}}},
		{{Key: "$sort", Value: doc{{Key: "sum", Value: -1}}}},
		{{Key: "$limit", Value: 1}},
		{{Key: "$project", Value: doc{{Key: "sum", Value: 1}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var top []struct {
		ID  string `bson:"_id"`
		Sum int
	}
	if err := cur.All(ctx, &top); err != nil {
		t.Fatal(err)
	}
	if len(top) != 1 || top[0].ID != "a" || top[0].Sum != 12 {
		t.Fatalf("top = %+v, want [{a 12}]", top)
	}
	cur, err = coll.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$unwind", Value: "$items"}},
		{{Key: "$addFields", Value: doc{{Key: "one", Value: 1}}}},
		{{Key: "$count", Value: "n"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var counted []struct{ N int }
	if err := cur.All(ctx, &counted); err != nil || len(counted) != 1 || counted[0].N != 4 {
		t.Fatalf("$unwind/$count = %+v, %v; want 4", counted, err)
	}
}

// wantServerError asserts that FerretDB refused a feature with the given
// error code, which is how the table in the package comment was found.
func wantServerError(t *testing.T, what string, err error, code int32) {
	t.Helper()
	var ce mongo.CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: got %v, want a command error with code %d (is it supported now? update the package comment)", what, err, code)
	}
	if ce.Code != code {
		t.Fatalf("%s: code %d (%v), want %d", what, ce.Code, err, code)
	}
}

const (
	codeBadValue       = 2
	codeFailedToParse  = 9
	codeIndexNotFound  = 27
	codeNotImplemented = 238
)

func TestUnsupportedFeatures(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := database(t)
	coll := db.Collection("c")
	if _, err := coll.InsertOne(ctx, doc{{Key: "v", Value: 1}}); err != nil {
		t.Fatal(err)
	}

	t.Run("transactions", func(t *testing.T) {
		sess, err := db.Client().StartSession()
		if err != nil {
			t.Fatal(err)
		}
		defer sess.EndSession(ctx)
		_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
			return coll.InsertOne(ctx, doc{{Key: "v", Value: 2}})
		})
		wantServerError(t, "transaction", err, codeFailedToParse)
		if n, _ := coll.CountDocuments(ctx, doc{{Key: "v", Value: 2}}); n != 0 {
			t.Fatal("the failed transaction wrote a document")
		}
	})
	t.Run("change streams", func(t *testing.T) {
		_, err := coll.Watch(ctx, mongo.Pipeline{})
		wantServerError(t, "Watch", err, codeNotImplemented)
	})
	t.Run("TTL index", func(t *testing.T) {
		_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
			Keys: doc{{Key: "at", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(60),
		})
		wantServerError(t, "TTL index", err, codeNotImplemented)
	})
	t.Run("partial index", func(t *testing.T) {
		_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
			Keys:    doc{{Key: "v", Value: 1}},
			Options: options.Index().SetPartialFilterExpression(doc{{Key: "v", Value: doc{{Key: "$gt", Value: 0}}}}),
		})
		wantServerError(t, "partial index", err, codeNotImplemented)
	})
	t.Run("text search", func(t *testing.T) {
		_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: doc{{Key: "body", Value: "text"}}})
		wantServerError(t, "text index", err, codeIndexNotFound)
		_, err = coll.Find(ctx, doc{{Key: "$text", Value: doc{{Key: "$search", Value: "x"}}}})
		wantServerError(t, "$text", err, codeBadValue)
	})
	t.Run("2dsphere index", func(t *testing.T) {
		_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: doc{{Key: "loc", Value: "2dsphere"}}})
		wantServerError(t, "2dsphere index", err, codeIndexNotFound)
	})
	for _, stage := range []string{"$lookup", "$facet"} {
		t.Run(stage, func(t *testing.T) {
			var spec doc
			if stage == "$lookup" {
				spec = doc{{Key: "from", Value: "c"}, {Key: "localField", Value: "v"}, {Key: "foreignField", Value: "v"}, {Key: "as", Value: "j"}}
			} else {
				spec = doc{{Key: "a", Value: bson.A{doc{{Key: "$count", Value: "n"}}}}}
			}
			_, err := coll.Aggregate(ctx, mongo.Pipeline{{{Key: stage, Value: spec}}})
			wantServerError(t, stage, err, codeNotImplemented)
		})
	}
}
