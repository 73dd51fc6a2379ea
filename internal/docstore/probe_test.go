package docstore

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestProbe(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now()
	s, err := Start(ctx, Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("start", time.Since(t0), s.URI())
	defer s.Close()
	c, err := mongo.Connect(options.Client().ApplyURI(s.URI()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	db := c.Database("probe")
	coll := db.Collection("c")
	_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{"k", 1}}, Options: options.Index().SetUnique(true)})
	t.Log("unique index:", err)
	_, err = coll.InsertOne(ctx, bson.D{{"k", 1}})
	t.Log("insert1:", err)
	_, err = coll.InsertOne(ctx, bson.D{{"k", 1}})
	t.Log("insert dup:", err, mongo.IsDuplicateKeyError(err))
	_, err = coll.InsertMany(ctx, []any{bson.D{{"k", 2}}, bson.D{{"k", 2}}})
	t.Log("insertMany dup:", err, mongo.IsDuplicateKeyError(err))

	sess, err := c.StartSession()
	t.Log("start session:", err)
	if err == nil {
		_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
			_, err := coll.InsertOne(ctx, bson.D{{"k", 10}})
			return nil, err
		})
		t.Log("transaction:", err)
		sess.EndSession(ctx)
	}
	n, _ := coll.CountDocuments(ctx, bson.D{{"k", 10}})
	t.Log("k=10 count after txn:", n)

	ttl := db.Collection("ttl")
	_, err = ttl.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{"at", 1}}, Options: options.Index().SetExpireAfterSeconds(1)})
	t.Log("ttl index:", err)
	_, err = ttl.InsertOne(ctx, bson.D{{"at", time.Now().Add(-time.Hour)}})
	t.Log("ttl insert:", err)

	_, err = coll.Watch(ctx, mongo.Pipeline{})
	t.Log("change stream:", err)
	_, err = db.Watch(ctx, mongo.Pipeline{})
	t.Log("db change stream:", err)

	txt := db.Collection("txt")
	_, err = txt.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{"body", "text"}}})
	t.Log("text index:", err)
	txt.InsertOne(ctx, bson.D{{"body", "hello world"}})
	cur, err := txt.Find(ctx, bson.D{{"$text", bson.D{{"$search", "hello"}}}})
	if err == nil {
		var r []bson.M
		err = cur.All(ctx, &r)
		t.Log("text results", r)
	}
	t.Log("$text find:", err)
	cur, err = txt.Find(ctx, bson.D{{"body", bson.D{{"$regex", "^hel"}}}})
	if err == nil {
		var r []bson.M
		err = cur.All(ctx, &r)
		t.Log("regex results", len(r))
	}
	t.Log("$regex:", err)

	agg := db.Collection("agg")
	agg.InsertMany(ctx, []any{bson.D{{"g", "a"}, {"v", 1}}, bson.D{{"g", "a"}, {"v", 2}}, bson.D{{"g", "b"}, {"v", 5}}})
	cur, err = agg.Aggregate(ctx, mongo.Pipeline{
		{{"$group", bson.D{{"_id", "$g"}, {"total", bson.D{{"$sum", "$v"}}}}}},
		{{"$sort", bson.D{{"total", -1}}}},
		{{"$limit", 1}},
	})
	if err == nil {
		var r []bson.M
		err = cur.All(ctx, &r)
		t.Log("agg results", r)
	}
	t.Log("agg:", err)
	for _, stage := range []bson.D{
		{{"$lookup", bson.D{{"from", "c"}, {"localField", "v"}, {"foreignField", "k"}, {"as", "j"}}}},
		{{"$unwind", "$g"}},
		{{"$project", bson.D{{"g", 1}}}},
		{{"$count", "n"}},
		{{"$match", bson.D{{"v", bson.D{{"$gt", 1}}}}}},
		{{"$addFields", bson.D{{"x", 1}}}},
		{{"$facet", bson.D{{"a", bson.A{bson.D{{"$count", "n"}}}}}}},
	} {
		cur, err = agg.Aggregate(ctx, mongo.Pipeline{stage})
		if err == nil {
			var r []bson.M
			err = cur.All(ctx, &r)
		}
		t.Log("stage", stage[0].Key, err)
	}
	// update operators
	_, err = agg.UpdateOne(ctx, bson.D{{"g", "b"}}, bson.D{{"$inc", bson.D{{"v", 1}}}, {"$push", bson.D{{"arr", 1}}}})
	t.Log("update $inc $push:", err)
	res := agg.FindOneAndUpdate(ctx, bson.D{{"g", "b"}}, bson.D{{"$set", bson.D{{"s", 1}}}}, options.FindOneAndUpdate().SetReturnDocument(options.After).SetUpsert(true))
	t.Log("findOneAndUpdate:", res.Err())
	_, err = agg.BulkWrite(ctx, []mongo.WriteModel{mongo.NewInsertOneModel().SetDocument(bson.D{{"z", 1}})})
	t.Log("bulk:", err)
	_, err = agg.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{"v", 1}}, Options: options.Index().SetPartialFilterExpression(bson.D{{"v", bson.D{{"$gt", 1}}}})})
	t.Log("partial index:", err)
	_, err = agg.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{"loc", "2dsphere"}}})
	t.Log("2dsphere index:", err)
	err = db.CreateCollection(ctx, "capped", options.CreateCollection().SetCapped(true).SetSizeInBytes(1<<20))
	t.Log("capped:", err)
	t.Log("ttl wait...")
	time.Sleep(70 * time.Second)
	n, err = ttl.CountDocuments(ctx, bson.D{})
	t.Log("ttl count after 70s:", n, err)
}
