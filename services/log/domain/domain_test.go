package domain_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/log/domain"
)

func TestVisitor(t *testing.T) {
	if v, err := domain.Visitor("user-1", "ignored-because-signed-in"); err != nil || v != "u:user-1" {
		t.Fatalf("signed in: %q, %v", v, err)
	}
	if v, err := domain.Visitor("", "visitor-0123456789abcdef"); err != nil || v != "a:visitor-0123456789abcdef" {
		t.Fatalf("anonymous: %q, %v", v, err)
	}
	for _, bad := range []string{"", "short", "has space 0123456789", "dots.are.not.allowed.here"} {
		if _, err := domain.Visitor("", bad); !errors.Is(err, contracts.ErrValidation) {
			t.Fatalf("visitor %q: %v, want validation_failed", bad, err)
		}
	}
}

func TestWindowsDaysAndHours(t *testing.T) {
	kst := time.FixedZone("KST", 9*3600)
	at := time.Date(2026, 12, 7, 8, 59, 59, 0, kst) // 23:59:59 UTC the day before
	if got := domain.Window(at, 30*time.Minute); !got.Equal(time.Date(2026, 12, 6, 23, 30, 0, 0, time.UTC)) {
		t.Fatalf("window %v", got)
	}
	if got := domain.Day(at); got != "2026-12-06" {
		t.Fatalf("day %s (days are UTC)", got)
	}
	hours, since := domain.Hours(at, 3)
	if !slices.Equal(hours, []string{"2026120621", "2026120622", "2026120623"}) || !since.Equal(time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)) {
		t.Fatalf("hours %v since %v", hours, since)
	}
	if days := domain.Days(at, 3); !slices.Equal(days, []string{"2026-12-04", "2026-12-05", "2026-12-06"}) {
		t.Fatalf("days %v", days)
	}
}

func TestReachedAndRank(t *testing.T) {
	th := []int64{10, 100, 1000}
	for _, c := range []struct {
		views     int64
		announced []int64
		want      []int64
	}{
		{9, nil, nil}, {10, nil, []int64{10}}, {150, []int64{10}, []int64{100}}, {1000, nil, []int64{10, 100, 1000}},
		{1000, []int64{10, 100, 1000}, nil},
	} {
		if got := domain.Reached(th, c.views, c.announced); !slices.Equal(got, c.want) {
			t.Fatalf("reached(%d, %v) = %v, want %v", c.views, c.announced, got, c.want)
		}
	}
	got := domain.Rank(map[string]int64{"b": 2, "a": 2, "c": 5, "z": 0})
	want := []domain.Ranked{{PostID: "c", Views: 5}, {PostID: "a", Views: 2}, {PostID: "b", Views: 2}}
	if !slices.Equal(got, want) {
		t.Fatalf("rank %v, want %v", got, want)
	}
}
