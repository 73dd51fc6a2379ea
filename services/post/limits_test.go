package post_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// wantField fails the test unless err is validation_failed on field.
func wantField(t testing.TB, what string, err error, field string) {
	t.Helper()
	ce := contracts.AsError(err)
	if ce == nil || ce.Code != contracts.ErrValidation.Code || ce.Field != field {
		t.Fatalf("%s: got %v, want validation_failed on %s", what, err, field)
	}
}

// wideTable is 8 KB of markdown that goldmark would expand to ~20 MB of HTML: a 1000-column
// header over 2000 one-cell rows, each padded to the header's width.
func wideTable() string {
	var b strings.Builder
	b.WriteString(strings.Repeat("|a", 1000) + "|\n")
	b.WriteString(strings.Repeat("|-", 1000) + "|\n")
	b.WriteString(strings.Repeat("x\n", 2000))
	return b.String()
}

// A body whose tables or HTML would be huge is refused before rendering it, on create and on
// update, and nothing is stored; an ordinary table still renders.
func TestRenderBombRefused(t *testing.T) {
	t.Parallel()
	errs := &moatest.ErrorLog{}
	h := newHarnessLogging(t, slog.New(errs))
	w := writer()
	bomb := wideTable()

	req := samplePost("table-bomb")
	req.Body = bomb
	_, err := h.post.CreatePost(h.as(w), req)
	wantField(t, "create with a 1000-column table", err, "body")

	// Many rows of a narrow table add up the same way.
	tall := "|a|b|c|d|e|f|g|h|\n|-|-|-|-|-|-|-|-|\n" + strings.Repeat("x\n", 5000)
	req.Body = tall
	_, err = h.post.CreatePost(h.as(w), req)
	wantField(t, "create with a 40000-cell table", err, "body")

	p := h.create(w, samplePost("small-table"))
	_, err = h.post.UpdatePost(h.as(w), contracts.UpdatePostRequest{ID: p.ID, Body: &bomb})
	wantField(t, "update to a 1000-column table", err, "body")
	got, err := h.post.GetPost(h.as(w), p.ID)
	if err != nil || got.Version != p.Version || got.Body != p.Body {
		t.Fatalf("after the refused update: %+v, %v; want the post unchanged", got, err)
	}

	table := "| a | b |\n|---|:-:|\n| 1 | 2 |"
	got, err = h.post.UpdatePost(h.as(w), contracts.UpdatePostRequest{ID: p.ID, Body: &table})
	if err != nil || !strings.Contains(got.HTML, "<table>") || !strings.Contains(got.HTML, "<td>1</td>") {
		t.Fatalf("an ordinary table: %+v, %v", got.HTML, err)
	}
	if e := errs.Errors(); len(e) != 0 {
		t.Fatalf("refusals logged errors: %v", e)
	}
}

// A body within the markdown limit whose reply would pass the NATS payload limit — 100 KB of
// '<' is 400 KB of "&lt;", and JSON writes every '<' and '&' as six bytes — is refused at
// write time, not stored to fail every read.
func TestBodyTooLargeOnTheWireRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := writer()
	lt := strings.Repeat("<", contracts.MaxPostBodyLen)
	req := samplePost("angle-brackets")
	req.Body = lt
	_, err := h.post.CreatePost(h.as(w), req)
	wantField(t, "create with 100 KB of '<'", err, "body")

	p := h.create(w, samplePost("angle-update"))
	_, err = h.post.UpdatePost(h.as(w), contracts.UpdatePostRequest{ID: p.ID, Body: &lt})
	wantField(t, "update to 100 KB of '<'", err, "body")

	// A body near the budget is stored and read back.
	some := strings.Repeat("<", 30_000)
	req = samplePost("angle-some")
	req.Body = some
	p = h.create(w, req)
	got, err := h.post.GetPost(anon(), p.ID)
	if err != nil || got.Body != some {
		t.Fatalf("read back 30 KB of '<': %v", err)
	}
}

// forge rewrites the ids of a real cursor, as a client could.
func forge(t *testing.T, cursor string, set map[string]string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		m[k] = v
	}
	b, _ = json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Cursors are opaque but unsigned: one whose ids are not ids is refused as a bad cursor, with
// no ERROR logged, instead of failing the store's uuid casts.
func TestForgedCursorRefused(t *testing.T) {
	t.Parallel()
	errs := &moatest.ErrorLog{}
	h := newHarnessLogging(t, slog.New(errs))
	w := writer()
	p := h.create(w, samplePost("cursor-one"))
	h.create(w, samplePost("cursor-two"))
	page, err := h.post.ListPosts(anon(), contracts.ListPostsRequest{Limit: 1})
	if err != nil || page.NextCursor == "" {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	for _, id := range []string{"not-a-uuid", "' OR 1=1 --", strings.Repeat("z", 36)} {
		_, err = h.post.ListPosts(anon(), contracts.ListPostsRequest{Limit: 1, Cursor: forge(t, page.NextCursor, map[string]string{"i": id})})
		wantField(t, "list posts after "+id, err, "cursor")
	}
	mine, err := h.post.MyPosts(h.as(w), contracts.PageRequest{Limit: 1})
	if err != nil || mine.NextCursor == "" {
		t.Fatalf("first page of mine: %+v, %v", mine, err)
	}
	_, err = h.post.MyPosts(h.as(w), contracts.PageRequest{Limit: 1, Cursor: forge(t, mine.NextCursor, map[string]string{"i": "x"})})
	wantField(t, "my posts after a forged id", err, "cursor")

	h.comment(reader(), p.ID, "", "first")
	h.comment(reader(), p.ID, "", "second")
	cs, err := h.post.ListComments(anon(), contracts.ListCommentsRequest{PostID: p.ID, Limit: 1})
	if err != nil || cs.NextCursor == "" {
		t.Fatalf("first page of comments: %+v, %v", cs, err)
	}
	for _, set := range []map[string]string{{"i": "x"}, {"h": "x"}} {
		_, err = h.post.ListComments(anon(), contracts.ListCommentsRequest{PostID: p.ID, Limit: 1, Cursor: forge(t, cs.NextCursor, set)})
		wantField(t, fmt.Sprintf("comments after %v", set), err, "cursor")
	}
	if e := errs.Errors(); len(e) != 0 {
		t.Fatalf("forged cursors logged errors: %v", e)
	}
}

// The blog has at most MaxCategories categories, so that list_categories always fits in a
// reply; the one past the cap is refused with conflict and not stored.
func TestCategoriesCapped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := writer()
	for i := range contracts.MaxCategories {
		if _, err := h.post.CreateCategory(h.as(w), contracts.CreateCategoryRequest{Slug: fmt.Sprintf("cat-%d", i), Name: "Category"}); err != nil {
			t.Fatalf("category %d: %v", i, err)
		}
	}
	_, err := h.post.CreateCategory(h.as(w), contracts.CreateCategoryRequest{Slug: "one-too-many", Name: "Category"})
	wantCode(t, "the category past the cap", err, contracts.ErrConflict)
	var n int
	if err := h.Postgres.QueryRow(context.Background(), `SELECT count(*) FROM categories`).Scan(&n); err != nil || n != contracts.MaxCategories {
		t.Fatalf("%d categories stored, %v; want %d", n, err, contracts.MaxCategories)
	}
	list, err := h.post.Categories(anon())
	if err != nil || len(list.Items) != contracts.MaxCategories {
		t.Fatalf("list_categories: %d items, %v", len(list.Items), err)
	}
}
