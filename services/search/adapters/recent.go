package adapters

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/search/domain"
)

// historyDoc is a shard of the histories (see shards.go): U maps each user (fieldKey) to their
// history, at most keep entries, newest first, one per query, as one string (encodeItems).
// A string rather than an array of documents: the embedded FerretDB decodes and re-encodes the
// whole shard on every read and update, and a string is one value to it where twenty
// documents are a hundred.
type historyDoc struct {
	ID string            `bson:"_id"`
	U  map[string]string `bson:"u"`
}

type historyItem struct {
	Query string `json:"q"`
	TS    int64  `json:"t"`
}

// encodeItems writes a history as "<ts> <len> <query>" per entry, back to back: the time in
// nanoseconds and the query's length in bytes, in decimal. Not JSON, which the first layout
// stored: FerretDB keeps documents as JSON, where each quote of a JSON history is escaped, and
// a string with escapes is the slow path of its decoder (with the history step the largest
// cost of a batch; 2026-12-06). A normalised query holds no control character and whitespace
// only as single spaces, so this format has nothing to escape but a query's own quotes,
// backslashes and <, >, &.
func encodeItems(items []historyItem) string {
	var b strings.Builder
	for _, it := range items {
		b.WriteString(strconv.FormatInt(it.TS, 10))
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(len(it.Query)))
		b.WriteByte(' ')
		b.WriteString(it.Query)
	}
	return b.String()
}

// decodeItems reads a stored history, in either format (a JSON one starts with '['); one that
// does not decode (not written by this code) is an error, not an empty history that the next
// write would silently replace.
func decodeItems(s string) ([]historyItem, error) {
	if s == "" {
		return nil, nil
	}
	bad := func(err error) error {
		return contracts.ErrInternal.Msg("search store: a stored history does not decode").Wrap(err)
	}
	if s[0] == '[' {
		var items []historyItem
		if err := json.Unmarshal([]byte(s), &items); err != nil {
			return nil, bad(err)
		}
		return items, nil
	}
	items := make([]historyItem, 0, contracts.SearchRecentMax)
	for s != "" {
		ts, rest, ok1 := strings.Cut(s, " ")
		n, rest, ok2 := strings.Cut(rest, " ")
		t, err1 := strconv.ParseInt(ts, 10, 64)
		l, err2 := strconv.Atoi(n)
		if !ok1 || !ok2 || err1 != nil || err2 != nil || l < 0 || l > len(rest) {
			return nil, bad(fmt.Errorf("entry %d: bad header at %.20q", len(items), s))
		}
		items = append(items, historyItem{Query: rest[:l], TS: t})
		s = rest[l:]
	}
	return items, nil
}

// TouchRecent reads the batch's shards with one find, merges each user's searches in Go and
// writes the changed histories back with one bulk update, a $set per shard of the users' own
// fields. The shards stay locked from read to write so that a delete or clear of this process
// cannot be overwritten by a stale history; several instances writing one user's history can
// still overwrite each other's change.
//
// A user whose new history would grow the shard past maxShard is left out, with an error in
// the map returned; the other users are written. A change that does not grow the shard is
// written even when the shard is over the limit already.
func (r *Repository) TouchRecent(ctx context.Context, byUser map[string][]domain.Recent, keep int) (map[string]error, error) {
	users := map[int][]string{}
	var shards []int
	for u := range byUser {
		s := historyShard(u)
		if users[s] == nil {
			shards = append(shards, s)
		}
		users[s] = append(users[s], u)
	}
	slices.Sort(shards) // locked in one order: no deadlock with another batch
	for _, s := range shards {
		defer docLocks.lock(s)()
	}
	stored, err := r.readHistories(ctx, shards)
	if err != nil {
		return nil, err
	}
	var models []mongo.WriteModel
	var refused map[string]error
	for _, s := range shards {
		var d historyDoc
		raw := stored[shardDoc(s)]
		if raw != nil {
			if err := bson.Unmarshal(raw, &d); err != nil {
				return nil, storeError("recent read", err)
			}
		}
		size := len(raw)
		set := bson.M{}
		slices.Sort(users[s]) // which users fit does not depend on map order
		for _, u := range users[s] {
			key := fieldKey(u)
			items, err := decodeItems(d.U[key])
			if err != nil {
				return nil, err
			}
			items, changed := merge(items, byUser[u], keep)
			if !changed {
				continue
			}
			v := encodeItems(items)
			grow := len(v) - len(d.U[key])
			if _, had := d.U[key]; !had {
				grow += len(key) + 6 // type byte, key's NUL, string's length and NUL
			}
			if grow > 0 && size+grow > r.maxShard {
				if refused == nil {
					refused = map[string]error{}
				}
				refused[u] = contracts.ErrInternal.Msg("search store: history shard %d would hold %d bytes, over the %d this layout allows "+
					"(MongoDB's document limit is 16 MiB): the histories need more shards (adapters/shards.go)", s, size+grow, r.maxShard)
				continue
			}
			set["u."+key] = v
			size += grow
		}
		if len(set) > 0 {
			models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": shardDoc(s)}).SetUpsert(true).
				SetUpdate(bson.M{"$set": set}))
		}
	}
	return refused, storeError("recent write", r.bulk(ctx, r.histories, models))
}

// readHistories reads the documents of shards, by _id, as stored: one find by _id for one
// shard, one by $in for more (which the embedded FerretDB answers by reading all sixteen;
// a batch of more than a few dozen users touches most of them anyway).
func (r *Repository) readHistories(ctx context.Context, shards []int) (map[string]bson.Raw, error) {
	ids := make([]string, len(shards))
	for i, s := range shards {
		ids[i] = shardDoc(s)
	}
	filter := bson.M{"_id": ids[0]}
	if len(ids) > 1 {
		filter = bson.M{"_id": bson.M{"$in": ids}}
	}
	cur, err := r.histories.Find(ctx, filter)
	if err != nil {
		return nil, storeError("recent read", err)
	}
	defer cur.Close(ctx)
	out := make(map[string]bson.Raw, len(ids))
	for cur.Next(ctx) {
		id, ok := cur.Current.Lookup("_id").StringValueOK()
		if !ok {
			return nil, contracts.ErrInternal.Msg("search store: a history shard without a string _id")
		}
		out[id] = slices.Clone(cur.Current)
	}
	return out, storeError("recent read", cur.Err())
}

// merge puts the searches in items (the later time wins for a query there already) and keeps
// the keep newest; the query breaks ties so that pages are stable.
func merge(items []historyItem, add []domain.Recent, keep int) ([]historyItem, bool) {
	out := slices.Clone(items)
	changed := false
	for _, s := range add {
		ts := nanos(s.At)
		i := slices.IndexFunc(out, func(it historyItem) bool { return it.Query == s.Query })
		switch {
		case i < 0:
			out = append(out, historyItem{Query: s.Query, TS: ts})
			changed = true
		case out[i].TS < ts:
			out[i].TS = ts
			changed = true
		}
	}
	slices.SortFunc(out, func(a, b historyItem) int {
		if a.TS != b.TS {
			if a.TS > b.TS {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Query, b.Query)
	})
	if len(out) > keep {
		out = out[:keep]
	}
	return out, changed && !slices.Equal(out, items)
}

// history reads a user's history; a user without one has an empty one.
func (r *Repository) history(ctx context.Context, userID string) ([]historyItem, error) {
	key := fieldKey(userID)
	var d historyDoc
	err := r.histories.FindOne(ctx, bson.M{"_id": shardDoc(historyShard(userID))},
		options.FindOne().SetProjection(bson.M{"u." + key: 1})).Decode(&d)
	if err == mongo.ErrNoDocuments {
		return nil, nil
	}
	if err != nil {
		return nil, storeError("recent read", err)
	}
	return decodeItems(d.U[key])
}

// Recent lists the user's history, newest first.
func (r *Repository) Recent(ctx context.Context, userID, prefix string, limit int) ([]domain.Recent, error) {
	items, err := r.history(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Recent, 0, min(limit, len(items)))
	for _, it := range items {
		if len(out) == limit {
			break
		}
		if strings.HasPrefix(it.Query, prefix) {
			out = append(out, domain.Recent{Query: it.Query, At: fromNanos(it.TS)})
		}
	}
	return out, nil
}

// DeleteRecent removes one query of the user.
func (r *Repository) DeleteRecent(ctx context.Context, userID, query string) (bool, error) {
	s := historyShard(userID)
	defer docLocks.lock(s)()
	items, err := r.history(ctx, userID)
	if err != nil {
		return false, err
	}
	i := slices.IndexFunc(items, func(it historyItem) bool { return it.Query == query })
	if i < 0 {
		return false, nil
	}
	_, err = r.histories.UpdateOne(ctx, bson.M{"_id": shardDoc(s)},
		bson.M{"$set": bson.M{"u." + fieldKey(userID): encodeItems(slices.Delete(items, i, i+1))}})
	if err != nil {
		return false, storeError("recent delete", err)
	}
	return true, nil
}

// ClearRecent removes the user's whole history.
func (r *Repository) ClearRecent(ctx context.Context, userID string) (int64, error) {
	s := historyShard(userID)
	defer docLocks.lock(s)()
	items, err := r.history(ctx, userID)
	if err != nil || len(items) == 0 {
		return 0, err
	}
	_, err = r.histories.UpdateOne(ctx, bson.M{"_id": shardDoc(s)}, bson.M{"$unset": bson.M{"u." + fieldKey(userID): ""}})
	if err != nil {
		return 0, storeError("recent clear", err)
	}
	return int64(len(items)), nil
}
