package catalog_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
)

func searchIDs(t *testing.T, h *harness, query string) []string {
	t.Helper()
	page, err := h.cat.SearchProducts(anon(), contracts.SearchProductsRequest{Query: query})
	if err != nil {
		t.Fatalf("search %q: %v", query, err)
	}
	var ids []string
	for _, it := range page.Items {
		ids = append(ids, it.ID)
	}
	return ids
}

func TestSearch(t *testing.T) {
	h := newHarness(t, nil)
	seller := authntest.Seller()
	mk := func(title, desc string, tags ...string) string {
		r := sampleProduct(title)
		r.Description, r.Tags = desc, tags
		return h.create(seller, r).ID
	}
	netflix := mk("넷플릭스 프리미엄 구독", "4K 화질, 동시 접속 4명", "ott", "영상")
	youtube := mk("YouTube Premium Family", "Ad-free videos and music for 6 accounts", "video")
	tv := mk("TV 패키지", "지상파 채널 모음", "tv")
	disney := mk("Disney+ Standard", "Movies and series; 100% family friendly_plan", "ott")
	gone := mk("넷플릭스 베이직", "삭제될 상품")
	if err := h.cat.DeleteProduct(h.as(seller), gone); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		query string
		want  []string // exact set, in rank order when more than one
	}{
		{"넷플", []string{netflix}},            // a prefix of a Korean word
		{"프리미엄", []string{netflix}},          // a whole Korean word
		{"릭스", []string{netflix}},            // inside a Korean word
		{"넷플 구독", []string{netflix}},         // several partial words, all must match
		{"premium", []string{youtube}},       // case-insensitive, whole word
		{"  PREM  ", []string{youtube}},      // prefix, trimmed
		{"tv", []string{tv}},                 // a two-letter word (no trigram)
		{"4k", []string{netflix}},            // a short word in the description
		{"ott", []string{netflix, disney}},   // a tag
		{"youtub premum", []string{youtube}}, // typos, by trigram similarity
		{"100%", []string{disney}},           // LIKE wildcards match literally
		{"friendly_plan", []string{disney}},
		{"o%e", nil},
		{`'&|!:*()<> \`, nil}, // tsquery and LIKE syntax is text, not syntax       // '_' too
		{"삭제될", nil},          // deleted products are not found
		{"zzzz qqqq", nil},    // nothing
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			got := searchIDs(t, h, c.query)
			if len(c.want) > 1 {
				slices.Sort(got)
				c.want = slices.Clone(c.want)
				slices.Sort(c.want)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("search %q: %v, want %v", c.query, got, c.want)
			}
		})
	}

	t.Run("title matches rank first", func(t *testing.T) {
		r := sampleProduct("Music lessons")
		r.Description = "premium teachers"
		h.create(seller, r)
		got := searchIDs(t, h, "premium")
		if len(got) != 2 || got[0] != youtube {
			t.Fatalf("premium: %v, want %s first", got, youtube)
		}
	})
	t.Run("pages", func(t *testing.T) {
		for i := range 5 {
			h.create(seller, sampleProduct("Paged plan "+string(rune('A'+i))))
		}
		var seen []string
		cursor := ""
		for range 10 {
			page, err := h.cat.SearchProducts(anon(), contracts.SearchProductsRequest{Query: "paged", Limit: 2, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items {
				seen = append(seen, it.ID)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		slices.Sort(seen)
		if len(seen) != 5 || len(slices.Compact(seen)) != 5 {
			t.Fatalf("paged search returned %d ids (%v), want 5 distinct", len(seen), seen)
		}
	})
}

func TestSearchIsRecordedForSignedInUsers(t *testing.T) {
	h := newHarness(t, nil)
	h.create(authntest.Seller(), sampleProduct("넷플릭스 프리미엄 구독"))
	user := authntest.Consumer()
	before := time.Now().Add(-time.Second)

	if _, err := h.cat.SearchProducts(anon(), contracts.SearchProductsRequest{Query: "anonymous query"}); err != nil {
		t.Fatal(err)
	}
	page, err := h.cat.SearchProducts(h.as(user), contracts.SearchProductsRequest{Query: "  넷플   PREMIUM ", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The next page of the same search is not a new search.
	if page.NextCursor != "" {
		if _, err := h.cat.SearchProducts(h.as(user), contracts.SearchProductsRequest{Query: "  넷플   PREMIUM ", Limit: 1, Cursor: page.NextCursor}); err != nil {
			t.Fatal(err)
		}
	}
	evs := h.WaitEvents(h.t, contracts.CatalogSearched.Filter(), 1)
	if evs[0].Key != user.UserID || evs[0].Type != "catalog.searched" {
		t.Fatalf("event %+v", evs[0])
	}
	var d contracts.SearchedData
	if err := json.Unmarshal(evs[0].Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.UserID != user.UserID || d.Query != "넷플 premium" || d.At.Before(before) {
		t.Fatalf("searched data %+v", d)
	}
	// Nothing more arrives: the anonymous search and the second page were not recorded.
	h.cacheSettled()
	if n := len(h.Events(h.t, contracts.CatalogSearched.Filter())); n != 1 {
		t.Fatalf("%d catalog.searched events, want 1", n)
	}
}
