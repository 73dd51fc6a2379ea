package adapters

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/moa-run/moa/services/search/domain"
)

// searchDoc is a journal entry.
type searchDoc struct {
	ID      string    `bson:"_id"`
	UserID  string    `bson:"user_id"`
	Query   string    `bson:"query"`
	TS      int64     `bson:"ts"`
	Bucket  time.Time `bson:"bucket"`
	Applied bool      `bson:"applied"`
}

func (d searchDoc) search() domain.Search {
	return domain.Search{ID: d.ID, UserID: d.UserID, Query: d.Query, At: fromNanos(d.TS)}
}

// Journal inserts the entry; the unique _id turns a second insert of the same search into a
// duplicate key error, and then the stored entry is returned instead.
func (r *Repository) Journal(ctx context.Context, s domain.Search) (domain.Search, bool, error) {
	doc := searchDoc{ID: s.ID, UserID: s.UserID, Query: s.Query, TS: nanos(s.At), Bucket: s.Bucket()}
	_, err := r.searches.InsertOne(ctx, doc)
	if err == nil {
		return s, false, nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return s, false, storeError("journal insert", err)
	}
	var stored searchDoc
	if err := r.searches.FindOne(ctx, bson.M{"_id": s.ID}).Decode(&stored); err != nil {
		return s, false, storeError("journal read", err)
	}
	return stored.search(), stored.Applied, nil
}

// MarkApplied sets the entry's applied flag.
func (r *Repository) MarkApplied(ctx context.Context, id string) error {
	_, err := r.searches.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$set": bson.M{"applied": true}})
	return storeError("journal mark", err)
}

// Expire deletes journal entries and counters of buckets before before.
func (r *Repository) Expire(ctx context.Context, before time.Time) (int64, error) {
	old := bson.M{"bucket": bson.M{"$lt": before}}
	a, err := r.searches.DeleteMany(ctx, old)
	if err != nil {
		return 0, storeError("expire searches", err)
	}
	b, err := r.popular.DeleteMany(ctx, old)
	if err != nil {
		return a.DeletedCount, storeError("expire counters", err)
	}
	return a.DeletedCount + b.DeletedCount, nil
}
