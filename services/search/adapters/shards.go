package adapters

import (
	"encoding/base64"
	"fmt"
	"hash/fnv"
)

// Histories and counters live in shards: a few documents, each a map keyed by user (or query),
// the histories' in one collection and the counters' in another, _id = the shard's number
// (shardDoc). Not a document per user or query: a batch of hundreds of users and queries then
// makes at most historyShards + termShards updates. A document per user and per query was
// measured on the embedded FerretDB with its _id index (2026-12-06, shared machine): 411–609
// events/s against 1,814–2,385 for the shards, each event costing a read and an update through
// FerretDB. On MongoDB these are point reads and field updates all the same.
//
// The shards were first a collection each (history_NN, terms_NN), from when the embedded
// FerretDB read a whole collection for a filter on _id. With internal/docstore's _id index
// a shard is found by _id in one collection, and a batch reads all its history shards with
// one find and writes them with one bulk update, its counters with another: 6 commands a batch
// instead of 43, and no two write transactions at once (see writes in mongo.go). Schema step
// 3 moved them.
const (
	historyShards = 16
	termShards    = 8
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

// shardDoc is the _id of shard s's document.
func shardDoc(s int) string { return fmt.Sprintf("%02d", s) }

// fieldKey encodes a user id or query as a field name: queries may hold '.' or start with '$',
// which field names must not; base64url has neither.
func fieldKey(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func fromFieldKey(k string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(k)
	return string(b), err == nil
}
