package domain_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/search/domain"
)

func TestWindowStart(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 42, 7, 0, time.UTC)
	for hours, want := range map[int]time.Time{
		1:  time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		3:  time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC),
		24: time.Date(2026, 2, 28, 11, 0, 0, 0, time.UTC),
		0:  time.Date(2026, 2, 28, 11, 0, 0, 0, time.UTC), // default: the whole window
		99: time.Date(2026, 2, 28, 11, 0, 0, 0, time.UTC),
	} {
		if got := domain.WindowStart(now, hours); !got.Equal(want) {
			t.Errorf("WindowStart(%d) = %v, want %v", hours, got, want)
		}
	}
	// Nothing a window can include is expired.
	if exp := domain.ExpiredBefore(now); !exp.Before(domain.WindowStart(now, 0)) {
		t.Fatalf("ExpiredBefore %v is not before the window start %v", exp, domain.WindowStart(now, 0))
	}
}

func TestNewSearch(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	s, err := domain.NewSearch("id", "u", "  Yoga  ", now.Add(-time.Minute), now)
	if err != nil || s.Query != "yoga" || !s.At.Equal(now.Add(-time.Minute)) {
		t.Fatalf("got %+v, %v", s, err)
	}
	if s, _ := domain.NewSearch("id", "u", "x", now.Add(time.Hour), now); !s.At.Equal(now) {
		t.Fatalf("a future time was not clamped: %v", s.At)
	}
	if s, _ := domain.NewSearch("id", "u", "x", time.Time{}, now); !s.At.Equal(now) {
		t.Fatalf("a zero time did not become now: %v", s.At)
	}
	for _, tc := range []struct{ id, user, query, field string }{
		{"", "u", "x", "id"}, {"id", "", "x", "user_id"}, {"id", "u", " ", "query"},
	} {
		_, err := domain.NewSearch(tc.id, tc.user, tc.query, now, now)
		var ce *contracts.Error
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("NewSearch(%q, %q, %q): %v, want an error on %s", tc.id, tc.user, tc.query, err, tc.field)
		}
	}
}

func TestMergeSuggestions(t *testing.T) {
	recent := []domain.Recent{{Query: "yoga mat"}, {Query: "yoga class"}}
	popular := []domain.Popular{{Query: "yoga retreat", Count: 9}, {Query: "yoga class", Count: 5}, {Query: "yoga blocks", Count: 2}}
	got := domain.MergeSuggestions(recent, popular, 4)
	want := []domain.Suggestion{
		{Query: "yoga mat", Source: contracts.SuggestionRecent},
		{Query: "yoga class", Source: contracts.SuggestionRecent},
		{Query: "yoga retreat", Source: contracts.SuggestionPopular, Count: 9},
		{Query: "yoga blocks", Source: contracts.SuggestionPopular, Count: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if got := domain.MergeSuggestions(recent, popular, 1); len(got) != 1 || got[0].Query != "yoga mat" {
		t.Fatalf("limit 1: %+v", got)
	}
}
