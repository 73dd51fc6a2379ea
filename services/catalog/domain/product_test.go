package domain_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/catalog/domain"
)

var (
	seller   = domain.Actor{UserID: "s1", Role: contracts.RoleSeller}
	now      = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	validNew = domain.Fields{Title: " T ", PriceAmount: 100, Currency: "KRW", BillingPeriod: contracts.BillingMonthly,
		Terms: "terms", Capacity: 2, Tags: []string{"Video", " video ", "MUSIC"}}
)

func ptr[T any](v T) *T { return &v }

func TestNewProductNormalises(t *testing.T) {
	p, err := domain.NewProduct("id", seller, validNew, now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Title != "T" || !slices.Equal(p.Tags, []string{"video", "music"}) || p.ImageURLs == nil ||
		p.TermsVersion != 1 || p.Version != 1 || p.CreatedAt.Nanosecond()%1000 != 0 || p.SellerID != "s1" {
		t.Fatalf("%+v", p)
	}
	if _, err := domain.NewProduct("id", domain.Actor{UserID: "c", Role: contracts.RoleConsumer}, validNew, now); !errors.Is(err, contracts.ErrForbidden) {
		t.Fatalf("consumer create: %v", err)
	}
	if _, err := domain.NewProduct("id", domain.Actor{}, validNew, now); !errors.Is(err, contracts.ErrUnauthenticated) {
		t.Fatalf("anonymous create: %v", err)
	}
}

func TestApply(t *testing.T) {
	p, _ := domain.NewProduct("id", seller, validNew, now)

	ch, err := p.Apply(seller, domain.Patch{Title: ptr("T"), Tags: ptr([]string{"VIDEO", "music"})}, now)
	if err != nil || !ch.Empty() || p.Version != 1 {
		t.Fatalf("same values: %+v, version %d, %v", ch, p.Version, err)
	}
	ch, err = p.Apply(seller, domain.Patch{Terms: ptr("new terms"), PriceAmount: ptr(int64(200))}, now)
	if err != nil || !ch.TermsChanged || ch.PreviousTermsVersion != 1 || p.TermsVersion != 2 || p.Version != 2 ||
		!slices.Equal(ch.Fields, []string{"price_amount", "terms"}) {
		t.Fatalf("terms change: %+v, %+v, %v", ch, p, err)
	}
	if _, err := p.Apply(seller, domain.Patch{Title: ptr("x"), ExpectedVersion: 1}, now); !errors.Is(err, contracts.ErrConflict) {
		t.Fatalf("stale version: %v", err)
	}
	if _, err := p.Apply(domain.Actor{UserID: "s2", Role: contracts.RoleSeller}, domain.Patch{Title: ptr("x")}, now); !errors.Is(err, contracts.ErrForbidden) {
		t.Fatalf("other seller: %v", err)
	}
	if _, err := p.Apply(seller, domain.Patch{Capacity: ptr(0)}, now); !errors.Is(err, contracts.ErrValidation) {
		t.Fatalf("invalid capacity: %v", err)
	}
	p.SeatsTaken = 2
	if _, err := p.Apply(seller, domain.Patch{Capacity: ptr(1)}, now); !errors.Is(err, contracts.ErrConflict) {
		t.Fatalf("capacity below seats: %v", err)
	}
	if err := p.CheckDelete(seller); !errors.Is(err, contracts.ErrConflict) {
		t.Fatalf("delete with seats taken: %v", err)
	}
	if p.Title != "T" || p.Capacity != 2 || p.Version != 2 {
		t.Fatalf("a refused patch changed the product: %+v", p)
	}
}

func TestCursors(t *testing.T) {
	q, err := domain.NewListQuery("Video", "KRW", ptr(int64(1)), nil, contracts.SortPriceAsc, 5, "")
	if err != nil {
		t.Fatal(err)
	}
	next := q.NextCursor(domain.Summary{ID: "id9", PriceAmount: 700})
	q2, err := domain.NewListQuery("video", "KRW", ptr(int64(1)), nil, contracts.SortPriceAsc, 5, next)
	if err != nil || q2.After == nil || q2.After.Price != 700 || q2.After.ID != "id9" {
		t.Fatalf("round trip: %+v, %v", q2.After, err)
	}
	if q.CacheKey("list") == q2.CacheKey("list") {
		t.Fatal("the first and the second page share a cache key")
	}
	for name, c := range map[string]func() error{
		"other filter": func() error {
			_, err := domain.NewListQuery("video", "KRW", ptr(int64(2)), nil, contracts.SortPriceAsc, 5, next)
			return err
		},
		"other sort": func() error {
			_, err := domain.NewListQuery("video", "KRW", ptr(int64(1)), nil, contracts.SortPriceDesc, 5, next)
			return err
		},
		"a seller's list": func() error { _, err := domain.NewSellerQuery("s1", 5, next); return err },
		"a search":        func() error { _, err := domain.NewSearchQuery("x", 5, next); return err },
	} {
		if err := c(); !errors.Is(err, contracts.ErrValidation) {
			t.Errorf("%s: %v, want validation_failed", name, err)
		}
	}
}
