package adapters

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/services/search/app"
	"github.com/moa-run/moa/services/search/domain"
)

// searchDoc is a journal entry. Applied is set only by the first schema (before batches): an
// entry of a batch is applied when the batch's record exists.
type searchDoc struct {
	ID      string    `bson:"_id"`
	UserID  string    `bson:"user_id"`
	Query   string    `bson:"query"`
	TS      int64     `bson:"ts"`
	Bucket  time.Time `bson:"bucket"`
	Epoch   string    `bson:"epoch,omitempty"`
	Batch   string    `bson:"batch,omitempty"`
	Counted bool      `bson:"counted,omitempty"`
	Applied bool      `bson:"applied,omitempty"`
}

func (d searchDoc) search() domain.Search {
	return domain.Search{ID: d.ID, UserID: d.UserID, Query: d.Query, At: fromNanos(d.TS)}
}

// batchDoc records a completed batch.
type batchDoc struct {
	ID string    `bson:"_id"`
	At time.Time `bson:"at"`
}

// Journal inserts the entries, insertChunk per command, unordered: a duplicate _id fails alone
// (E11000) and the others are inserted. Each duplicate is then read back, by _id.
func (r *Repository) Journal(ctx context.Context, epoch, batch string, ss []domain.Search) ([]app.Journaled, error) {
	out := make([]app.Journaled, len(ss))
	var dups []int
	for lo := 0; lo < len(ss); lo += insertChunk {
		hi := min(lo+insertChunk, len(ss))
		docs := make([]any, 0, hi-lo)
		for _, s := range ss[lo:hi] {
			docs = append(docs, searchDoc{ID: s.ID, UserID: s.UserID, Query: s.Query, TS: nanos(s.At),
				Bucket: s.Bucket(), Epoch: epoch, Batch: batch})
		}
		failed := map[int]bool{}
		_, err := r.searches.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
		if err != nil {
			var bwe mongo.BulkWriteException
			if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
				return nil, storeError("journal insert", err)
			}
			for _, we := range bwe.WriteErrors {
				if !mongo.IsDuplicateKeyError(we) {
					return nil, storeError("journal insert", err)
				}
				failed[lo+we.Index] = true
			}
		}
		for i := lo; i < hi; i++ {
			if failed[i] {
				dups = append(dups, i)
			} else {
				out[i] = app.Journaled{Stored: ss[i], New: true}
			}
		}
	}
	if len(dups) == 0 {
		return out, nil
	}
	stored, err := r.stored(ctx, ss, dups)
	if err != nil {
		return nil, err
	}
	done := map[string]bool{} // batch → completed
	for _, i := range dups {
		d, ok := stored[ss[i].ID]
		if !ok { // deleted by the janitor since the insert failed: older than any window
			return nil, storeError("journal read", mongo.ErrNoDocuments)
		}
		j := app.Journaled{Stored: d.search(), Applied: d.Applied, Counted: d.Counted}
		if !j.Applied && d.Batch != "" {
			c, seen := done[d.Batch]
			if !seen {
				err := r.batches.FindOne(ctx, bson.M{"_id": d.Batch}).Err()
				if err != nil && err != mongo.ErrNoDocuments {
					return nil, storeError("batch read", err)
				}
				c = err == nil
				done[d.Batch] = c
			}
			j.Applied = c
		}
		if !j.Applied && !j.Counted && d.Epoch != "" {
			if j.Counted, err = r.counted(ctx, d.Query, d.Epoch, d.Batch); err != nil {
				return nil, err
			}
		}
		out[i] = j
	}
	return out, nil
}

// stored reads the journal entries of ss[dups]. One duplicate is a find by _id; several are
// one find by $in: the embedded FerretDB reads the whole journal for either, so after a crash,
// when a batch may be all redeliveries, that is one pass instead of one per search.
func (r *Repository) stored(ctx context.Context, ss []domain.Search, dups []int) (map[string]searchDoc, error) {
	ids := make([]string, len(dups))
	for k, i := range dups {
		ids[k] = ss[i].ID
	}
	filter := bson.M{"_id": ids[0]}
	if len(ids) > 1 {
		filter = bson.M{"_id": bson.M{"$in": ids}}
	}
	cur, err := r.searches.Find(ctx, filter)
	if err != nil {
		return nil, storeError("journal read", err)
	}
	var docs []searchDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, storeError("journal read", err)
	}
	out := make(map[string]searchDoc, len(docs))
	for _, d := range docs {
		out[d.ID] = d
	}
	return out, nil
}

// Adopt re-tags the leftovers, updateChunk updates per command.
func (r *Repository) Adopt(ctx context.Context, epoch, batch string, left []app.Journaled) error {
	models := make([]mongo.WriteModel, len(left))
	for i, j := range left {
		models[i] = mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": j.Stored.ID}).
			SetUpdate(bson.M{"$set": bson.M{"epoch": epoch, "batch": batch, "counted": j.Counted}})
	}
	return storeError("journal adopt", r.bulk(ctx, r.searches, models))
}

// Complete inserts the batch's record.
func (r *Repository) Complete(ctx context.Context, batch string, at time.Time) error {
	_, err := r.batches.InsertOne(ctx, batchDoc{ID: batch, At: at.UTC()})
	if mongo.IsDuplicateKeyError(err) { // a retried insert that had made it
		err = nil
	}
	return storeError("batch complete", err)
}

// Expire deletes journal entries, batch records and counters of buckets before before. A batch
// record outlives its entries (it is younger than any of them).
func (r *Repository) Expire(ctx context.Context, before time.Time) (int64, error) {
	old := bson.M{"bucket": bson.M{"$lt": before}}
	a, err := r.searches.DeleteMany(ctx, old)
	if err != nil {
		return 0, storeError("expire searches", err)
	}
	b, err := r.batches.DeleteMany(ctx, bson.M{"at": bson.M{"$lt": before}})
	if err != nil {
		return a.DeletedCount, storeError("expire batches", err)
	}
	n, err := r.expireCounters(ctx, before)
	return a.DeletedCount + b.DeletedCount + n, err
}
