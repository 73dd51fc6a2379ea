package adapters

import (
	"context"
	"slices"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/moa-run/moa/services/search/domain"
)

// historyDoc is one user's history (_id = user id): at most keep entries, newest first, one
// per query. A single document per user makes listing a read by _id, the one filter the
// embedded FerretDB narrows (any other filter reads the whole collection).
type historyDoc struct {
	UserID string        `bson:"_id"`
	Items  []historyItem `bson:"items"`
}

type historyItem struct {
	Query string `bson:"q"`
	TS    int64  `bson:"ts"`
}

// readers bounds the concurrent reads of histories a batch makes.
const readers = 8

// TouchRecent reads the batch's histories (readers at a time), merges in Go and writes back the
// changed ones, updateChunk per command. The users' stripes stay locked from read to write so
// that a delete or clear of this process cannot be overwritten by a stale history; several
// instances writing one user's history can still overwrite each other's change.
func (r *Repository) TouchRecent(ctx context.Context, byUser map[string][]domain.Recent, keep int) error {
	users := make([]string, 0, len(byUser))
	for u := range byUser {
		users = append(users, u)
	}
	slices.Sort(users)
	defer docLocks.lockAll(users)()

	docs := make([]historyDoc, len(users))
	errs := make([]error, len(users))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(readers, len(users)) {
		wg.Go(func() {
			for i := range next {
				docs[i], errs[i] = r.history(ctx, users[i])
			}
		})
	}
	for i := range users {
		next <- i
	}
	close(next)
	wg.Wait()

	var models []mongo.WriteModel
	for i, u := range users {
		if errs[i] != nil {
			return errs[i]
		}
		items, changed := merge(docs[i].Items, byUser[u], keep)
		if changed {
			models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": u}).SetUpsert(true).
				SetUpdate(bson.M{"$set": bson.M{"items": items}}))
		}
	}
	return storeError("recent write", r.bulk(ctx, r.histories, models))
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
func (r *Repository) history(ctx context.Context, userID string) (historyDoc, error) {
	d := historyDoc{UserID: userID}
	err := r.histories.FindOne(ctx, bson.M{"_id": userID}).Decode(&d)
	if err == mongo.ErrNoDocuments {
		return d, nil
	}
	return d, storeError("recent read", err)
}

// Recent lists the user's history, newest first.
func (r *Repository) Recent(ctx context.Context, userID, prefix string, limit int) ([]domain.Recent, error) {
	d, err := r.history(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Recent, 0, min(limit, len(d.Items)))
	for _, it := range d.Items {
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
	defer docLocks.lockAll([]string{userID})()
	d, err := r.history(ctx, userID)
	if err != nil {
		return false, err
	}
	i := slices.IndexFunc(d.Items, func(it historyItem) bool { return it.Query == query })
	if i < 0 {
		return false, nil
	}
	_, err = r.histories.UpdateOne(ctx, bson.M{"_id": userID},
		bson.M{"$set": bson.M{"items": slices.Delete(d.Items, i, i+1)}})
	if err != nil {
		return false, storeError("recent delete", err)
	}
	return true, nil
}

// ClearRecent removes the user's whole history.
func (r *Repository) ClearRecent(ctx context.Context, userID string) (int64, error) {
	defer docLocks.lockAll([]string{userID})()
	d, err := r.history(ctx, userID)
	if err != nil || len(d.Items) == 0 {
		return 0, err
	}
	if _, err := r.histories.DeleteOne(ctx, bson.M{"_id": userID}); err != nil {
		return 0, storeError("recent clear", err)
	}
	return int64(len(d.Items)), nil
}
