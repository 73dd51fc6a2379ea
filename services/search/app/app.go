// Package app holds the search history's use cases: recording searches (from events and calls)
// exactly once, and the queries over recent, popular and suggested searches. It works on domain
// types; ports map them to and from the contracts' DTOs.
package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/search/domain"
)

// Repository is the search history's storage. A search is applied in steps that are each
// idempotent, because the document store has no multi-document transactions: the journal entry
// (unique by search id) comes first, and every later step can be repeated until the search is
// marked applied.
type Repository interface {
	// Journal stores s unless a search with its ID is stored already. It returns the stored
	// search (the first one recorded wins) and whether all its effects were applied.
	Journal(ctx context.Context, s domain.Search) (stored domain.Search, applied bool, err error)
	// TouchRecent puts s.Query in s.UserID's history at s.At, keeping the later time when the
	// query is there already, and trims the history to its keep newest entries.
	TouchRecent(ctx context.Context, s domain.Search, keep int) error
	// Recount sets the popular counter of (query, bucket) to the number of journal entries
	// for it. Counting instead of incrementing is what makes a repeated step harmless.
	Recount(ctx context.Context, query string, bucket time.Time) error
	// MarkApplied records that every effect of search id is done.
	MarkApplied(ctx context.Context, id string) error

	// Recent lists userID's history, newest first, restricted to queries starting with prefix
	// when prefix is not empty.
	Recent(ctx context.Context, userID, prefix string, limit int) ([]domain.Recent, error)
	DeleteRecent(ctx context.Context, userID, query string) (bool, error)
	ClearRecent(ctx context.Context, userID string) (int64, error)
	// Popular sums the counters of buckets starting at or after since, per query, restricted
	// to queries starting with prefix when it is not empty; most counted first, ties by query.
	Popular(ctx context.Context, since time.Time, prefix string, limit int) ([]domain.Popular, error)
	// Expire deletes journal entries and counters of buckets before before.
	Expire(ctx context.Context, before time.Time) (int64, error)
}

// App runs the use cases over a Repository.
type App struct {
	repo Repository
	now  func() time.Time
}

// Option configures an App.
type Option func(*App)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(a *App) { a.now = now } }

// New returns the use cases over repo.
func New(repo Repository, opts ...Option) *App {
	a := &App{repo: repo, now: time.Now}
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
	return a.apply(ctx, s)
}

// RecordEvent records a search learnt from an event. eventID makes it idempotent: a
// redelivered event neither counts twice nor brings back an entry the user deleted since.
func (a *App) RecordEvent(ctx context.Context, eventID, userID, query string, at time.Time) (domain.Search, error) {
	s, err := domain.NewSearch(eventID, userID, query, at, a.now())
	if err != nil {
		return domain.Search{}, err
	}
	return a.apply(ctx, s)
}

// apply runs the steps of recording s. A failure part-way leaves s unapplied, and the next
// attempt (a redelivery) repeats the steps, each of which is idempotent; once s is marked
// applied, a repetition does nothing.
func (a *App) apply(ctx context.Context, s domain.Search) (domain.Search, error) {
	stored, applied, err := a.repo.Journal(ctx, s)
	if err != nil || applied {
		return stored, err
	}
	if err := a.repo.TouchRecent(ctx, stored, contracts.SearchRecentMax); err != nil {
		return stored, err
	}
	// A search older than the retention cannot enter any window; a counter for it would only
	// wait for the janitor.
	if b := stored.Bucket(); !b.Before(domain.ExpiredBefore(a.now())) {
		if err := a.repo.Recount(ctx, stored.Query, b); err != nil {
			return stored, err
		}
	}
	return stored, a.repo.MarkApplied(ctx, stored.ID)
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

// Popular returns the top queries of the window of hours buckets, and the window's start.
func (a *App) Popular(ctx context.Context, hours, limit int) ([]domain.Popular, time.Time, error) {
	limit = clamp(limit, contracts.SearchPopularDefault, contracts.SearchPopularMax)
	since := domain.WindowStart(a.now(), hours)
	top, err := a.repo.Popular(ctx, since, "", limit)
	return top, since, err
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
	// Ask for limit more than needed: the user's own queries may be among the popular ones.
	popular, err := a.repo.Popular(ctx, domain.WindowStart(a.now(), 0), p, limit+len(recent))
	if err != nil {
		return nil, err
	}
	return domain.MergeSuggestions(recent, popular, limit), nil
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
