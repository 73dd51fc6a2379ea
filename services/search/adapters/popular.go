package adapters

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
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

// AddPopular runs one upsert per shard: $inc of its queries' buckets and $set of its marker for
// epoch. termsMu keeps the janitor's read-modify-write out of the way: the embedded FerretDB
// does not isolate concurrent updates of one document.
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
	r.termsMu.Lock()
	defer r.termsMu.Unlock()
	// One shard after the other (see writes in mongo.go).
	for _, s := range shards {
		if err := upsert(ctx, r.terms[s], bson.M{"_id": shardID},
			bson.M{"$inc": byShard[s], "$set": bson.M{"seen." + epoch: batch}}); err != nil {
			return storeError("popular counters", err)
		}
	}
	return nil
}

// counted tells whether the shard of query holds the counts of batch, applied by epoch.
func (r *Repository) counted(ctx context.Context, query, epoch, batch string) (bool, error) {
	var d termsDoc
	err := r.terms[termShard(query)].FindOne(ctx, bson.M{"_id": shardID},
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
	docs := make([][]termsDoc, termShards)
	err := parallel(ctx, all(termShards), func(ctx context.Context, s int) error {
		cur, err := r.terms[s].Find(ctx, bson.M{}, options.Find().SetProjection(projection))
		if err != nil {
			return err
		}
		return cur.All(ctx, &docs[s])
	})
	return slices.Concat(docs...), err
}

// Popular reads the shards and sums the window's buckets per query.
func (r *Repository) Popular(ctx context.Context, since time.Time, prefix string, limit int) ([]domain.Popular, error) {
	docs, err := r.readTerms(ctx, bson.M{"t": 1})
	if err != nil {
		return nil, storeError("popular", err)
	}
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
	return out, nil
}

// expireCounters removes counters of buckets before before and markers of batches that old (a
// UUIDv7 carries its time), and deletes documents left without a counter. It returns how many
// counters went.
func (r *Repository) expireCounters(ctx context.Context, before time.Time) (int64, error) {
	r.termsMu.Lock()
	defer r.termsMu.Unlock()
	var mu sync.Mutex
	var gone int64
	err := parallel(ctx, all(termShards), func(ctx context.Context, s int) error {
		cur, err := r.terms[s].Find(ctx, bson.M{})
		if err != nil {
			return err
		}
		var docs []termsDoc
		if err := cur.All(ctx, &docs); err != nil {
			return err
		}
		for _, d := range docs {
			unset, n := expired(d, before)
			mu.Lock()
			gone += n
			mu.Unlock()
			switch {
			case len(d.T) == int(n):
				_, err = r.terms[s].DeleteOne(ctx, bson.M{"_id": d.ID})
			case len(unset) > 0:
				_, err = r.terms[s].UpdateOne(ctx, bson.M{"_id": d.ID}, bson.M{"$unset": unset})
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return gone, storeError("expire counters", err)
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
