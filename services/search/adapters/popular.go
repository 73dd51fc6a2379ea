package adapters

import (
	"context"
	"math"
	"slices"
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

// termsDoc is a shard of the counters (see shards.go): T maps each query and bucket
// (counterKey) to its count, a flat map because the embedded FerretDB decodes the whole shard
// on every read and update; Seen maps each epoch to the last batch it counted into this shard.
type termsDoc struct {
	ID   string            `bson:"_id"`
	T    map[string]int64  `bson:"t"`
	Seen map[string]string `bson:"seen,omitempty"`
}

// counterKey names the counter of (query, bucket): the query's fieldKey, '~' (not a base64url
// character) and the bucket's Unix seconds.
func counterKey(query string, bucket time.Time) string {
	return fieldKey(query) + "~" + strconv.FormatInt(bucket.Unix(), 10)
}

// parseCounterKey is counterKey's inverse.
func parseCounterKey(k string) (query string, bucket int64, ok bool) {
	enc, sec, found := strings.Cut(k, "~")
	if !found {
		return "", 0, false
	}
	q, ok := fromFieldKey(enc)
	b, err := strconv.ParseInt(sec, 10, 64)
	return q, b, ok && err == nil
}

// AddPopular upserts the batch's shards in one bulk update: $inc of their queries' buckets
// and $set of their marker for epoch. termsMu keeps the janitor's read-modify-write out of the
// way: the embedded FerretDB isolates single updates, not a read and the update after it.
func (r *Repository) AddPopular(ctx context.Context, epoch, batch string, counts []app.Count) error {
	byShard := map[int]bson.M{}
	var shards []int
	for _, c := range counts {
		s := termShard(c.Query)
		inc := byShard[s]
		if inc == nil {
			inc = bson.M{}
			byShard[s] = inc
			shards = append(shards, s)
		}
		inc["t."+counterKey(c.Query, c.Bucket)] = c.N
	}
	slices.Sort(shards)
	models := make([]mongo.WriteModel, len(shards))
	for i, s := range shards {
		models[i] = mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": shardDoc(s)}).SetUpsert(true).
			SetUpdate(bson.M{"$inc": byShard[s], "$set": bson.M{"seen." + epoch: batch}})
	}
	r.termsMu.Lock()
	defer r.termsMu.Unlock()
	return storeError("popular counters", r.bulk(ctx, r.terms, models))
}

// counted tells whether the shard of query holds the counts of batch, applied by epoch.
func (r *Repository) counted(ctx context.Context, query, epoch, batch string) (bool, error) {
	var d termsDoc
	err := r.terms.FindOne(ctx, bson.M{"_id": shardDoc(termShard(query))},
		options.FindOne().SetProjection(bson.M{"seen": 1})).Decode(&d)
	if err == mongo.ErrNoDocuments {
		return false, nil
	}
	if err != nil {
		return false, storeError("popular read", err)
	}
	return d.Seen[epoch] == batch, nil
}

// readTerms reads every shard of the counters.
func (r *Repository) readTerms(ctx context.Context, projection any) ([]termsDoc, error) {
	opts := options.Find()
	if projection != nil {
		opts.SetProjection(projection)
	}
	cur, err := r.terms.Find(ctx, bson.M{}, opts)
	if err != nil {
		return nil, err
	}
	var docs []termsDoc
	return docs, cur.All(ctx, &docs)
}

// Popular reads the shards and sums the window's buckets per query.
func (r *Repository) Popular(ctx context.Context, since time.Time, prefix string, limit int) ([]domain.Popular, error) {
	docs, err := r.readTerms(ctx, bson.M{"t": 1})
	if err != nil {
		return nil, storeError("popular", err)
	}
	return sumTerms(docs, since, prefix, limit), nil
}

// PopularMarked sums the window like Popular, all queries, and says for each query which batch
// of an epoch its shard had counted last when read (the shard's sums and markers are one
// document, read at once).
func (r *Repository) PopularMarked(ctx context.Context, since time.Time) (app.PopularRead, error) {
	docs, err := r.readTerms(ctx, bson.M{"t": 1, "seen": 1})
	if err != nil {
		return app.PopularRead{}, storeError("popular", err)
	}
	seen := make(map[string]map[string]string, len(docs))
	for _, d := range docs {
		seen[d.ID] = d.Seen
	}
	return app.PopularRead{
		Top: sumTerms(docs, since, "", math.MaxInt),
		Seen: func(query, epoch string) string {
			return seen[shardDoc(termShard(query))][epoch]
		},
	}, nil
}

// sumTerms sums the buckets of docs from since per query starting with prefix, most counted
// first, ties by query, at most limit.
func sumTerms(docs []termsDoc, since time.Time, prefix string, limit int) []domain.Popular {
	from := since.Unix()
	sums := map[string]int64{}
	for _, d := range docs {
		for k, c := range d.T {
			q, b, ok := parseCounterKey(k)
			if ok && b >= from && strings.HasPrefix(q, prefix) {
				sums[q] += c
			}
		}
	}
	out := make([]domain.Popular, 0, len(sums))
	for q, n := range sums {
		if n > 0 {
			out = append(out, domain.Popular{Query: q, Count: n})
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
	return out
}

// expireCounters removes counters of buckets before before and markers of batches that old (a
// UUIDv7 carries its time), and deletes documents left without a counter. It returns how many
// counters went.
func (r *Repository) expireCounters(ctx context.Context, before time.Time) (int64, error) {
	r.termsMu.Lock()
	defer r.termsMu.Unlock()
	docs, err := r.readTerms(ctx, nil)
	if err != nil {
		return 0, storeError("expire counters", err)
	}
	var gone int64
	for _, d := range docs {
		unset, n := expired(d, before)
		switch {
		case len(d.T) == int(n):
			_, err = r.terms.DeleteOne(ctx, bson.M{"_id": d.ID})
		case len(unset) > 0:
			_, err = r.terms.UpdateOne(ctx, bson.M{"_id": d.ID}, bson.M{"$unset": unset})
		}
		if err != nil {
			return gone, storeError("expire counters", err)
		}
		gone += n
	}
	return gone, nil
}

// expired returns the fields of d to unset and how many of its counters go.
func expired(d termsDoc, before time.Time) (bson.M, int64) {
	unset := bson.M{}
	var gone int64
	for k := range d.T {
		if _, b, ok := parseCounterKey(k); !ok || b < before.Unix() {
			unset["t."+k] = ""
			gone++
		}
	}
	for epoch, batch := range d.Seen {
		if id, err := uuid.Parse(batch); err == nil && id.Version() == 7 {
			if sec, nsec := id.Time().UnixTime(); time.Unix(sec, nsec).Before(before) {
				unset["seen."+epoch] = ""
			}
		}
	}
	return unset, gone
}
