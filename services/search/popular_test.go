package search_test

import (
	"slices"
	"testing"
	"time"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
)

// popular returns the queries and counts of a popular page.
func popular(t *testing.T, f *fixture, req contracts.SearchPopularRequest) []contracts.PopularSearch {
	t.Helper()
	resp, err := f.search.Popular(t.Context(), req)
	if err != nil {
		t.Fatalf("Popular(%+v): %v", req, err)
	}
	return resp.Items
}

// searchAt makes n different users search query at time at, through catalog events, and
// returns the last stream sequence.
func searchAt(t *testing.T, f *fixture, query string, n int, at time.Time) uint64 {
	t.Helper()
	var seq uint64
	for range n {
		_, seq = f.emit(t, authntest.Consumer().UserID, query, at)
	}
	return seq
}

func TestPopularCountsOverASlidingWindowOfHourlyBuckets(t *testing.T) {
	t.Parallel()
	f := start(t)
	now := time.Now()
	// Times are chosen so that the assertions hold even when the hour turns during the test.
	searchAt(t, f, "yoga", 3, now)
	searchAt(t, f, "Pilates", 2, now.Add(-2*time.Hour))
	searchAt(t, f, "boxing", 1, now.Add(-10*time.Minute))
	searchAt(t, f, "swimming", 5, now.Add(-30*time.Hour)) // left the window long ago
	f.waitConsumed(t, searchAt(t, f, "boxing", 1, now.Add(-5*time.Hour)))

	want := []contracts.PopularSearch{{Query: "yoga", Count: 3}, {Query: "boxing", Count: 2}, {Query: "pilates", Count: 2}}
	resp, err := f.search.Popular(t.Context(), contracts.SearchPopularRequest{})
	if err != nil || !slices.Equal(resp.Items, want) {
		t.Fatalf("popular over 24h = %+v, %v; want %+v (ties by query)", resp.Items, err, want)
	}
	if since := time.Now().UTC().Truncate(time.Hour).Add(-23 * time.Hour); !resp.Since.Equal(since) && !resp.Since.Equal(since.Add(-time.Hour)) {
		t.Fatalf("since = %v, want the start of the bucket 23 hours back (%v)", resp.Since, since)
	}
	if got := popular(t, f, contracts.SearchPopularRequest{Limit: 1}); !slices.Equal(got, want[:1]) {
		t.Fatalf("popular limit 1 = %+v", got)
	}
	// Four hourly buckets reach back to pilates (2h ago) but not to the older boxing (5h ago).
	want4 := []contracts.PopularSearch{{Query: "yoga", Count: 3}, {Query: "pilates", Count: 2}, {Query: "boxing", Count: 1}}
	if got := popular(t, f, contracts.SearchPopularRequest{WindowHours: 4}); !slices.Equal(got, want4) {
		t.Fatalf("popular over 4h = %+v, want %+v", got, want4)
	}
	// One bucket cannot include searches two or more hours old.
	for _, p := range popular(t, f, contracts.SearchPopularRequest{WindowHours: 1}) {
		if p.Query == "pilates" || p.Query == "swimming" {
			t.Fatalf("popular over 1h includes %+v", p)
		}
	}
	// The expired search was recorded in the user's history all the same.
	n := 0
	for _, qs := range storedHistories(t, f) {
		if slices.Contains(qs, "swimming") {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("%d recent entries for an old search, want 5", n)
	}
}

func TestSuggestMergesOwnRecentAndPopular(t *testing.T) {
	t.Parallel()
	f := start(t)
	now := time.Now()
	searchAt(t, f, "yoga retreat", 3, now)
	searchAt(t, f, "yoga class", 2, now)
	searchAt(t, f, "yogurt", 4, now)
	searchAt(t, f, "요가 매트", 2, now)
	searchAt(t, f, "요가", 1, now)
	searchAt(t, f, "a+b", 1, now)
	searchAt(t, f, "aab", 1, now)
	searchAt(t, f, "new york", 1, now)
	f.waitConsumed(t, searchAt(t, f, "newton", 1, now))

	me := f.as(t, authntest.Consumer())
	for _, q := range []string{"yoga class", "yoga mat"} {
		if _, err := f.search.Record(me, q); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.search.Suggest(me, "  YOGA ", 3)
	want := []contracts.Suggestion{
		{Query: "yoga mat", Source: contracts.SuggestionRecent},
		{Query: "yoga class", Source: contracts.SuggestionRecent},
		{Query: "yoga retreat", Source: contracts.SuggestionPopular, Count: 3},
	}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("suggest(yoga ) for me = %+v, %v\nwant %+v", got, err, want)
	}

	anonymous := t.Context()
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"yo", []string{"yogurt", "yoga class", "yoga retreat", "yoga mat"}}, // by count: 4, 3 (2 + mine), 3, 1; ties by query
		{"요가", []string{"요가 매트", "요가"}},
		{"a+", []string{"a+b"}}, // a literal prefix, not a pattern
		{".*", nil},
		{"new ", []string{"new york"}}, // a finished word
		{"new", []string{"new york", "newton"}},
		{"zzz", nil},
	} {
		got, err := f.search.Suggest(anonymous, tc.prefix, 0)
		if err != nil {
			t.Fatalf("suggest(%q): %v", tc.prefix, err)
		}
		var qs []string
		for _, s := range got {
			if s.Source != contracts.SuggestionPopular {
				t.Fatalf("anonymous suggest(%q) has a %s entry: %+v", tc.prefix, s.Source, s)
			}
			qs = append(qs, s.Query)
		}
		if !slices.Equal(qs, tc.want) {
			t.Fatalf("suggest(%q) = %q, want %q", tc.prefix, qs, tc.want)
		}
	}
}
