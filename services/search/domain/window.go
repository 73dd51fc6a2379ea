package domain

import (
	"time"

	"github.com/moa-run/moa/contracts"
)

// The popular window. Counts are kept per bucket of contracts.SearchPopularBucket (an hour); a
// window of n hours is the current bucket and the n-1 before it, so with the default 24 a search
// counts for between 23 and 24 hours and then leaves the window with its whole bucket. Hourly
// buckets keep the number of counters small (one per query per hour) at the price of that
// one-hour step.
const (
	BucketSize    = contracts.SearchPopularBucket
	WindowBuckets = contracts.SearchWindowHoursMax
)

// Retention is how long searches and counters are kept: the longest window plus one bucket, so
// that a bucket is never dropped while a window can still include it, whatever the clock skew
// between instances within that margin.
const Retention = (WindowBuckets + 1) * BucketSize

// BucketOf returns the start of the bucket t falls in.
func BucketOf(t time.Time) time.Time { return t.UTC().Truncate(BucketSize) }

// WindowStart is the start of the oldest bucket of a window of hours buckets ending with the
// one now falls in. hours outside 1..WindowBuckets means WindowBuckets.
func WindowStart(now time.Time, hours int) time.Time {
	if hours <= 0 || hours > WindowBuckets {
		hours = WindowBuckets
	}
	return BucketOf(now).Add(-time.Duration(hours-1) * BucketSize)
}

// ExpiredBefore is the time before which searches and counters may be deleted.
func ExpiredBefore(now time.Time) time.Time { return BucketOf(now).Add(-Retention) }
