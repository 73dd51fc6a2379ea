package post_test

import (
	"fmt"
	"testing"

	"github.com/moa-run/moa/contracts"
)

// Lists page by keyset over published posts only, newest first, by category and by tag; a
// cursor of one list is refused by another.
func TestListByCategoryAndTag(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := writer()
	for _, c := range []contracts.CreateCategoryRequest{{Slug: "travel", Name: "여행"}, {Slug: "food", Name: "Food"}} {
		if _, err := h.post.CreateCategory(h.as(w), c); err != nil {
			t.Fatal(err)
		}
	}
	_, err := h.post.CreateCategory(h.as(w), contracts.CreateCategoryRequest{Slug: "food", Name: "Again"})
	wantCode(t, "a category created twice", err, contracts.ErrAlreadyExists)
	cats, err := h.post.Categories(anon())
	if err != nil || len(cats.Items) != 2 || cats.Items[0].Slug != "food" || cats.Items[1].Name != "여행" {
		t.Fatalf("categories %+v, %v", cats, err)
	}
	bad := samplePost("nowhere")
	bad.Category = "no-such"
	_, err = h.post.CreatePost(h.as(w), bad)
	wantCode(t, "a post in a missing category", err, contracts.ErrValidation)

	var travel []string
	for i := range 7 {
		req := samplePost(fmt.Sprintf("trip-%d", i))
		req.Category = "travel"
		req.Tags = []string{"Seoul"}
		if i%2 == 0 {
			req.Tags = []string{"busan", "바다"}
		}
		travel = append([]string{h.create(w, req).ID}, travel...) // newest first
	}
	food := samplePost("kimchi")
	food.Category, food.Tags = "food", []string{"바다"}
	h.create(w, food)
	draft := samplePost("secret-trip")
	draft.Category, draft.Publish = "travel", false
	h.create(w, draft)

	got := h.all(contracts.ListPostsRequest{Category: "travel", Limit: 3})
	if fmt.Sprint(got) != fmt.Sprint(travel) {
		t.Fatalf("travel posts %v, want %v", got, travel)
	}
	if n := len(h.all(contracts.ListPostsRequest{Tag: "바다", Limit: 2})); n != 5 {
		t.Fatalf("%d posts tagged 바다, want 5 (4 trips and the food post)", n)
	}
	if n := len(h.all(contracts.ListPostsRequest{Tag: "SEOUL"})); n != 3 {
		t.Fatalf("%d posts tagged seoul, want 3", n)
	}
	if n := len(h.all(contracts.ListPostsRequest{Limit: 50})); n != 8 {
		t.Fatalf("%d published posts, want 8 (no draft)", n)
	}

	// The writer's own list has the draft too.
	mine, err := h.post.MyPosts(h.as(w), contracts.PageRequest{Limit: 50})
	if err != nil || len(mine.Items) != 9 {
		t.Fatalf("my posts: %d, %v; want 9", len(mine.Items), err)
	}

	page, err := h.post.ListPosts(anon(), contracts.ListPostsRequest{Category: "travel", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.post.ListPosts(anon(), contracts.ListPostsRequest{Category: "food", Limit: 3, Cursor: page.NextCursor})
	wantCode(t, "a travel cursor on the food list", err, contracts.ErrValidation)
	_, err = h.post.ListPosts(anon(), contracts.ListPostsRequest{Cursor: "not-a-cursor"})
	wantCode(t, "a garbage cursor", err, contracts.ErrValidation)
}

// all reads every page of a list and returns the post ids in order.
func (h *harness) all(req contracts.ListPostsRequest) []string {
	h.t.Helper()
	var ids []string
	for range 100 {
		page, err := h.post.ListPosts(anon(), req)
		if err != nil {
			h.t.Fatalf("list %+v: %v", req, err)
		}
		if req.Limit > 0 && len(page.Items) > req.Limit {
			h.t.Fatalf("page of %d items, limit %d", len(page.Items), req.Limit)
		}
		for _, p := range page.Items {
			ids = append(ids, p.ID)
		}
		if page.NextCursor == "" {
			return ids
		}
		req.Cursor = page.NextCursor
	}
	h.t.Fatal("the list did not end")
	return nil
}

// Search finds published posts by Korean and English words, whole, by prefix, inside Korean
// compounds and with a typo; drafts and deleted posts are never found.
func TestSearchKoreanAndEnglish(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := writer()
	mk := func(slug, title, body string, publish bool) contracts.Post {
		req := samplePost(slug)
		req.Title, req.Body, req.Publish, req.Tags = title, body, publish, nil
		return h.create(w, req)
	}
	seoul := mk("seoul-food", "서울맛집 탐방기", "종로에서 먹은 **비빔밥** 이야기. Great bibimbap in Jongno.", true)
	golang := mk("go-concurrency", "Concurrency in Go", "Goroutines and channels make *concurrency* simple.", true)
	mk("draft-seoul", "서울 초안", "아직 쓰는 중인 맛집 글", false)
	gone := mk("deleted-seoul", "지워진 서울맛집", "deleted", true)
	if err := h.post.DeletePost(h.as(w), gone.ID); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"맛집", []string{seoul.ID}},           // a word inside a Korean compound
		{"서울맛집", []string{seoul.ID}},         // the compound whole
		{"비빔밥", []string{seoul.ID}},          // a body word, past the markdown
		{"종로", []string{seoul.ID}},           // a prefix of 종로에서
		{"bibimbap", []string{seoul.ID}},     // English in a Korean post
		{"CONCURRENCY", []string{golang.ID}}, // case
		{"gorout", []string{golang.ID}},      // prefix
		{"concurency", []string{golang.ID}},  // typo
		{"strong", nil},                      // markup is not text
		{"없는말", nil},
	} {
		page, err := h.post.SearchPosts(anon(), contracts.SearchPostsRequest{Query: tc.query})
		if err != nil {
			t.Fatalf("search %q: %v", tc.query, err)
		}
		var got []string
		for _, p := range page.Items {
			got = append(got, p.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("search %q found %v, want %v", tc.query, got, tc.want)
		}
	}
}
