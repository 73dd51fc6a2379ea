package adapters

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/services/search/app"
	"github.com/moa-run/moa/services/search/domain"
)

// termDoc is the counters of one query: _id is the query, B its count per bucket (keyed by
// the bucket's Unix seconds) and Seen the last batch each epoch counted into it.
type termDoc struct {
	Query string            `bson:"_id"`
	B     map[string]int64  `bson:"b"`
	Seen  map[string]string `bson:"seen,omitempty"`
}

func bucketKey(b time.Time) string { return strconv.FormatInt(b.Unix(), 10) }

// AddPopular runs one upsert per query: $inc of its buckets and $set of its marker for epoch.
// termsMu keeps the janitor's read-modify-write of a counter out of the way: the embedded
// FerretDB does not isolate concurrent updates of one document.
func (r *Repository) AddPopular(ctx context.Context, epoch, batch string, counts []app.Count) error {
	byQuery := map[string]bson.M{}
	var order []string
	for _, c := range counts {
		inc := byQuery[c.Query]
		if inc == nil {
			inc = bson.M{}
			byQuery[c.Query] = inc
			order = append(order, c.Query)
		}
		inc["b."+bucketKey(c.Bucket)] = c.N
	}
	models := make([]mongo.WriteModel, len(order))
	for i, q := range order {
		models[i] = mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": q}).SetUpsert(true).
			SetUpdate(bson.M{"$inc": byQuery[q], "$set": bson.M{"seen." + epoch: batch}})
	}
	r.termsMu.Lock()
	defer r.termsMu.Unlock()
	return storeError("popular counters", r.bulk(ctx, r.terms, models))
}

// counted tells whether query's counter holds the count of batch, applied by epoch.
func (r *Repository) counted(ctx context.Context, query, epoch, batch string) (bool, error) {
	var d termDoc
	err := r.terms.FindOne(ctx, bson.M{"_id": query}).Decode(&d)
	if err == mongo.ErrNoDocuments {
		return false, nil
	}
	if err != nil {
		return false, storeError("popular read", err)
	}
	return d.Seen[epoch] == batch, nil
}

// Popular reads every query's counters and sums the window's buckets. The counters are one
// document per query, so this is one pass over the queries of the last day, filtered and
// summed here rather than by an aggregation over one document per query and hour.
func (r *Repository) Popular(ctx context.Context, since time.Time, prefix string, limit int) ([]domain.Popular, error) {
	cur, err := r.terms.Find(ctx, bson.M{}, options.Find().SetProjection(bson.M{"b": 1}))
	if err != nil {
		return nil, storeError("popular", err)
	}
	var docs []termDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, storeError("popular", err)
	}
	from := since.Unix()
	var out []domain.Popular
	for _, d := range docs {
		if !strings.HasPrefix(d.Query, prefix) {
			continue
		}
		var n int64
		for k, c := range d.B {
			if b, err := strconv.ParseInt(k, 10, 64); err == nil && b >= from {
				n += c
			}
		}
		if n > 0 {
			out = append(out, domain.Popular{Query: d.Query, Count: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Query < out[j].Query
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// expireCounters removes buckets before before, and markers of batches that old (a UUIDv7
// carries its time), from every counter, and deletes the counters left without a bucket.
func (r *Repository) expireCounters(ctx context.Context, before time.Time) (int64, error) {
	r.termsMu.Lock()
	defer r.termsMu.Unlock()
	cur, err := r.terms.Find(ctx, bson.M{})
	if err != nil {
		return 0, storeError("expire counters", err)
	}
	var docs []termDoc
	if err := cur.All(ctx, &docs); err != nil {
		return 0, storeError("expire counters", err)
	}
	var deleted int64
	var models []mongo.WriteModel
	for _, d := range docs {
		unset := bson.M{}
		for k := range d.B {
			if b, err := strconv.ParseInt(k, 10, 64); err != nil || b < before.Unix() {
				unset["b."+k] = ""
			}
		}
		if len(unset) == len(d.B) {
			models = append(models, mongo.NewDeleteOneModel().SetFilter(bson.M{"_id": d.Query}))
			deleted++
			continue
		}
		for epoch, batch := range d.Seen {
			if id, err := uuid.Parse(batch); err == nil && id.Version() == 7 {
				if sec, nsec := id.Time().UnixTime(); time.Unix(sec, nsec).Before(before) {
					unset["seen."+epoch] = ""
				}
			}
		}
		if len(unset) > 0 {
			models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": d.Query}).
				SetUpdate(bson.M{"$unset": unset}))
		}
	}
	if err := r.bulk(ctx, r.terms, models); err != nil {
		return 0, storeError("expire counters", err)
	}
	return deleted, nil
}
