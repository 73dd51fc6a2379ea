// Package domain holds the search history's rules: what a recorded search is, how queries are
// normalised, how the popular window is cut into buckets and how suggestions are merged. It
// does no I/O and names no wire type.
package domain

import (
	"time"

	"github.com/moa-run/moa/contracts"
)

// Search is one recorded search. ID makes recording idempotent: it is the event id for searches
// learnt from events and a fresh id for direct calls, and a search with an ID already recorded
// is not counted again.
type Search struct {
	ID     string
	UserID string
	Query  string // normalised
	At     time.Time
}

// NewSearch checks and normalises a search. A time in the future (a producer's clock ahead of
// ours) is clamped to now, so that it cannot pin itself to the top of a history or count in a
// bucket that has not started. A zero time means now.
func NewSearch(id, userID, query string, at, now time.Time) (Search, error) {
	if id == "" {
		return Search{}, contracts.ErrValidation.OnField("id", "a search needs an id")
	}
	if userID == "" {
		return Search{}, contracts.ErrValidation.OnField("user_id", "a search needs a user")
	}
	q, err := contracts.NormalizeSearchQuery("query", query)
	if err != nil {
		return Search{}, err
	}
	if at.IsZero() || at.After(now) {
		at = now
	}
	return Search{ID: id, UserID: userID, Query: q, At: at.UTC()}, nil
}

// Bucket is the popular-count bucket the search falls in.
func (s Search) Bucket() time.Time { return BucketOf(s.At) }

// Recent is an entry of a user's history: a query and the last time it was searched.
type Recent struct {
	Query string
	At    time.Time
}

// Popular is a query and its count over a window.
type Popular struct {
	Query string
	Count int64
}
