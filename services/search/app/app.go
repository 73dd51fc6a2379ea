// Package app holds the search history's use cases: recording searches (from events and calls)
// exactly once, and the queries over recent, popular and suggested searches. It works on domain
// types; ports map them to and from the contracts' DTOs.
package app

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/search/domain"
)

// Repository is the search history's storage. The document store has no multi-document
// transactions, so a batch of searches is applied in steps that make every search count once
// however a batch fails (see App.applyBatch):
//
//  1. Journal: one entry per search, _id = search id, tagged with the epoch and batch that
//     applies it. A search found there already is a duplicate: applied when its batch completed,
//     otherwise left over by a batch that failed (its epoch ended with it, see App).
//  2. Adopt: the leftovers are re-tagged to this batch, with whether their count is in already.
//  3. AddPopular: one $inc per query for the whole batch, which also sets the query's marker
//     for the epoch to the batch, in the same single-document update. An epoch applies one batch
//     at a time and none after a failure, so "the query's marker for epoch E is batch B" is
//     exactly "B's count for that query is in": that is how a leftover's count is known.
//  4. TouchRecent: the histories, by $max on times, which repeating does not change. A history
//     the store refuses (its size limit) fails only that user's searches; the batch is then
//     not completed and its epoch ends, as after a failure, so those searches are leftovers.
//  5. Complete: the batch's record, which makes all its searches applied at once.
type Repository interface {
	// Journal stores the searches (distinct ids) as searches of batch in epoch, unless stored
	// already, and says for each what the journal knew.
	Journal(ctx context.Context, epoch, batch string, ss []domain.Search) ([]Journaled, error)
	// Adopt re-tags leftovers (Journaled entries neither New nor Applied) to batch in epoch,
	// keeping whether each is counted.
	Adopt(ctx context.Context, epoch, batch string, left []Journaled) error
	// AddPopular adds the counts, one update per query, and marks each of those queries as
	// counted by batch for epoch.
	AddPopular(ctx context.Context, epoch, batch string, counts []Count) error
	// TouchRecent puts each user's queries in their history at their times, keeping the later
	// time when a query is there already, and trims each history to its keep newest entries.
	// A user whose history cannot be written (the store's size limit) is left out and named in
	// the map returned, with the error; the others are written.
	TouchRecent(ctx context.Context, byUser map[string][]domain.Recent, keep int) (map[string]error, error)
	// Complete records that every effect of batch is done.
	Complete(ctx context.Context, batch string, at time.Time) error

	// Recent lists userID's history, newest first, restricted to queries starting with prefix
	// when prefix is not empty.
	Recent(ctx context.Context, userID, prefix string, limit int) ([]domain.Recent, error)
	DeleteRecent(ctx context.Context, userID, query string) (bool, error)
	ClearRecent(ctx context.Context, userID string) (int64, error)
	// Popular sums the counters of buckets starting at or after since, per query, restricted
	// to queries starting with prefix when it is not empty; most counted first, ties by query.
	Popular(ctx context.Context, since time.Time, prefix string, limit int) ([]domain.Popular, error)
	// PopularMarked sums like Popular, every query, and tells which of this instance's batches
	// the sums hold (the popular list reads the store without stopping batches; popular.go).
	PopularMarked(ctx context.Context, since time.Time) (PopularRead, error)
	// Expire deletes journal entries, batch records and counters of buckets before before.
	Expire(ctx context.Context, before time.Time) (int64, error)
}

// PopularRead is the outcome of Repository.PopularMarked.
type PopularRead struct {
	Top []domain.Popular // most counted first, ties by query
	// Seen returns the last batch of epoch counted into query's counter shard, as read with
	// the sums ("" if none).
	Seen func(query, epoch string) string
}

// Journaled is what the journal knew of one search of a batch.
type Journaled struct {
	Stored  domain.Search // as first recorded: a duplicate keeps the first one's fields
	New     bool          // stored by this batch
	Applied bool          // a duplicate of a search whose effects are all done
	Counted bool          // a leftover whose popular count is in already
}

// Count is an increment of the popular counter of (Query, Bucket).
type Count struct {
	Query  string
	Bucket time.Time
	N      int64
}

// App runs the use cases over a Repository.
type App struct {
	repo    Repository
	now     func() time.Time
	popular *popularCache // see popular.go

	mu      sync.Mutex
	queue   []*pending // searches waiting for the next batch
	running bool       // a flush loop is applying batches
	epoch   string     // see Repository; only the flush loop uses it
}

// Option configures an App.
type Option func(*App)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(a *App) { a.now = now } }

// New returns the use cases over repo.
func New(repo Repository, opts ...Option) *App {
	a := &App{repo: repo, now: time.Now, popular: newPopularCache(repo)}
	for _, o := range opts {
		o(a)
	}
	return a
}

// RecordCall records a search the user made, reported by a direct call. Each call is a new
// search, with a fresh id.
func (a *App) RecordCall(ctx context.Context, userID, query string) (domain.Search, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return domain.Search{}, contracts.ErrInternal.Wrap(err)
	}
	now := a.now()
	s, err := domain.NewSearch(id.String(), userID, query, now, now)
	if err != nil {
		return domain.Search{}, err
	}
	return a.record(ctx, s)
}

// RecordEvent records a search learnt from an event. eventID makes it idempotent: a
// redelivered event neither counts twice nor brings back an entry the user deleted since.
func (a *App) RecordEvent(ctx context.Context, eventID, userID, query string, at time.Time) (domain.Search, error) {
	s, err := domain.NewSearch(eventID, userID, query, at, a.now())
	if err != nil {
		return domain.Search{}, err
	}
	return a.record(ctx, s)
}

// Recent lists the user's history, newest first; limit 0 means all of it.
func (a *App) Recent(ctx context.Context, userID string, limit int) ([]domain.Recent, error) {
	limit = clamp(limit, contracts.SearchRecentMax, contracts.SearchRecentMax)
	return a.repo.Recent(ctx, userID, "", limit)
}

// DeleteRecent removes one query from the user's history.
func (a *App) DeleteRecent(ctx context.Context, userID, query string) (bool, error) {
	q, err := contracts.NormalizeSearchQuery("query", query)
	if err != nil {
		return false, err
	}
	return a.repo.DeleteRecent(ctx, userID, q)
}

// ClearRecent removes the user's whole history.
func (a *App) ClearRecent(ctx context.Context, userID string) (int64, error) {
	return a.repo.ClearRecent(ctx, userID)
}

// Popular returns the top queries of the window of hours buckets, and the window's start. The
// counts of other instances can be up to a second old (popular.go).
func (a *App) Popular(ctx context.Context, hours, limit int) ([]domain.Popular, time.Time, error) {
	limit = clamp(limit, contracts.SearchPopularDefault, contracts.SearchPopularMax)
	since := domain.WindowStart(a.now(), hours)
	top, err := a.popular.get(ctx, since)
	if err != nil {
		return nil, since, err
	}
	return firstWithPrefix(top, "", limit), since, nil
}

// Suggest lists queries starting with prefix: userID's own first (when userID is not empty),
// then popular ones over the whole window.
func (a *App) Suggest(ctx context.Context, userID, prefix string, limit int) ([]domain.Suggestion, error) {
	p, err := contracts.NormalizeSearchPrefix("prefix", prefix)
	if err != nil {
		return nil, err
	}
	limit = clamp(limit, contracts.SearchSuggestDefault, contracts.SearchSuggestMax)
	var recent []domain.Recent
	if userID != "" {
		if recent, err = a.repo.Recent(ctx, userID, p, limit); err != nil {
			return nil, err
		}
	}
	top, err := a.popular.get(ctx, domain.WindowStart(a.now(), 0))
	if err != nil {
		return nil, err
	}
	// Take limit more than needed: the user's own queries may be among the popular ones.
	return domain.MergeSuggestions(recent, firstWithPrefix(top, p, limit+len(recent)), limit), nil
}

// Expire deletes what no window can include any more, and returns how many documents went.
func (a *App) Expire(ctx context.Context) (int64, error) {
	return a.repo.Expire(ctx, domain.ExpiredBefore(a.now()))
}

// clamp maps a requested page size to def when unset and to at most most.
func clamp(n, def, most int) int {
	if n <= 0 {
		return def
	}
	return min(n, most)
}
