package adapters

import (
	"context"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"sync"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Histories and counters live in shards, each a collection of its own holding one document:
// a map keyed by user (or query). Not a document per user or query, and not the shards as
// documents of one collection, because a batch of hundreds of users and queries then makes at
// most historyShards + termShards updates. The layout was chosen when the embedded FerretDB
// still read a whole collection for a filter on _id; internal/docstore now adds the _id index
// its queries use, and a document per user and per query was measured again on it (2026-12-06,
// shared machine): 411–609 events/s against 1,814–2,385 for the shards, each event costing a
// read and an update through FerretDB. On MongoDB these are point reads and field updates all
// the same.
//
// The limit of the layout is MongoDB's 16 MiB per document: a history takes about 1 KB (twenty
// queries), so historyShards × 16 MiB holds some 250,000 users' histories; a counter about 30
// bytes, so termShards × 16 MiB holds some 4 million (query, hour) counters at once, the
// janitor expiring them after a day. Beyond that the shards must grow (a new schema step that
// moves the histories, as byID did), or the layout go back to a document per user and per
// query. A history write that would take a shard past maxShardBytes fails with a message that
// says so (and the search is retried, then dead-lettered) instead of MongoDB's
// BSONObjectTooLarge; histories that do not grow are still written. The counters are only
// $inc'ed, never read back before a write, so they have no such check.
//
// Long before the limit the size costs time: every batch reads and rewrites each shard it
// touches whole, and every recent read reads its user's shard whole on the embedded FerretDB
// (MongoDB projects on the server, but still loads the document). At 200 users a shard is
// about 10 KB; at 100,000 it is about 6 MB.
const (
	historyShards = 16
	termShards    = 8
	shardID       = "shard" // the _id of a shard's document
)

// maxShardBytes is the largest history shard a write may leave, with a margin below MongoDB's
// 16 MiB for the _id and the driver's framing (Repository.maxShard; tests lower it).
const maxShardBytes = 15 << 20

// shardOf returns the shard of key among n, stable across processes (FNV-1a).
func shardOf(key string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

func historyShard(userID string) int { return shardOf(userID, historyShards) }
func termShard(query string) int     { return shardOf(query, termShards) }

func shardCollections(db *mongo.Database, prefix string, n int) []*mongo.Collection {
	out := make([]*mongo.Collection, n)
	for i := range out {
		out[i] = db.Collection(fmt.Sprintf("%s_%02d", prefix, i))
	}
	return out
}

// fieldKey encodes a user id or query as a field name: queries may hold '.' or start with '$',
// which field names must not; base64url has neither.
func fieldKey(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func fromFieldKey(k string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(k)
	return string(b), err == nil
}

// parallel runs fn for each shard in shards at once, and returns the first error.
func parallel(ctx context.Context, shards []int, fn func(ctx context.Context, shard int) error) error {
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for i, s := range shards {
		wg.Go(func() { errs[i] = fn(ctx, s) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// all lists 0..n-1.
func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
