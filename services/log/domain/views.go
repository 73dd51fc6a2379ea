// Package domain holds the visit log's rules: who a visitor is, which window a view is
// deduplicated in, which day and hourly bucket it counts in, and which thresholds a count
// has reached.
package domain

import (
	"sort"
	"time"

	"github.com/moa-run/moa/contracts"
)

// Post is what the log knows of a post from the post service's events.
type Post struct {
	ID       string
	AuthorID string
	Title    string
	// Live is true while the post is published and not deleted: only live posts are counted
	// and listed.
	Live bool
}

// Visitor returns the key a view is deduplicated under: the signed-in user, or else the
// anonymous visitor id the client keeps. The two never collide (different prefixes), and a
// signed-in user counts as the same visitor on every device.
func Visitor(userID, visitorID string) (string, error) {
	if userID != "" {
		return "u:" + userID, nil
	}
	if visitorID == "" {
		return "", contracts.ErrValidation.OnField("visitor_id", "an anonymous view needs a visitor_id")
	}
	if err := contracts.ValidateVisitorID(visitorID); err != nil {
		return "", err
	}
	return "a:" + visitorID, nil
}

// Window returns the start of the dedup window at holds: windows are fixed, aligned on the
// Unix epoch (a 30-minute window runs from :00 to :30 and :30 to :00 UTC). A visitor's
// views of a post count once per window; the next window counts them again.
func Window(at time.Time, size time.Duration) time.Time { return at.UTC().Truncate(size) }

// Day is the UTC day a view counts in, "2006-01-02".
func Day(at time.Time) string { return at.UTC().Format(time.DateOnly) }

// Hour is the id of the hourly popular bucket at falls in, "2006010215" (UTC): ids sort in
// time order.
func Hour(at time.Time) string {
	return at.UTC().Truncate(contracts.LogPopularBucket).Format("2006010215")
}

// Hours returns the ids of the n hourly buckets ending with the one now falls in, oldest
// first, and the start of the oldest.
func Hours(now time.Time, n int) ([]string, time.Time) {
	cur := now.UTC().Truncate(contracts.LogPopularBucket)
	out := make([]string, n)
	for i := range n {
		out[i] = Hour(cur.Add(-time.Duration(n-1-i) * contracts.LogPopularBucket))
	}
	return out, cur.Add(-time.Duration(n-1) * contracts.LogPopularBucket)
}

// Days returns the last n UTC days up to now's, oldest first.
func Days(now time.Time, n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = Day(now.AddDate(0, 0, -(n - 1 - i)))
	}
	return out
}

// Reached returns the thresholds that views has reached and that are not in announced,
// ascending.
func Reached(thresholds []int64, views int64, announced []int64) []int64 {
	done := make(map[int64]bool, len(announced))
	for _, a := range announced {
		done[a] = true
	}
	var out []int64
	for _, t := range thresholds {
		if views >= t && !done[t] {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Ranked is a post and its views in the popular window.
type Ranked struct {
	PostID string
	Views  int64
}

// Rank sorts counts by views, most first, ties by post id.
func Rank(counts map[string]int64) []Ranked {
	out := make([]Ranked, 0, len(counts))
	for id, n := range counts {
		if n > 0 {
			out = append(out, Ranked{PostID: id, Views: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Views != out[j].Views {
			return out[i].Views > out[j].Views
		}
		return out[i].PostID < out[j].PostID
	})
	return out
}
