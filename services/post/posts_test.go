package post_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/moa-run/moa/contracts"
)

// A writer writes a draft, which only they can read; publishing it emits post.published once,
// later changes post.updated, and deleting it post.deleted; then nobody reads it.
func TestPostLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := writer()
	req := samplePost("첫-글-hello")
	req.Publish = false
	req.Body = "# 안녕\n\n**bold** and a [link](https://example.com)."
	p := h.create(w, req)
	if p.Status != contracts.PostStatusDraft || p.PublishedAt != nil || p.AuthorID != w.UserID || p.Version != 1 {
		t.Fatalf("draft %+v", p)
	}
	if !strings.Contains(p.HTML, "<strong>bold</strong>") || !strings.Contains(p.HTML, `href="https://example.com"`) {
		t.Fatalf("rendered HTML %q", p.HTML)
	}
	if strings.Join(p.Tags, ",") != "go,blog" {
		t.Fatalf("tags %v, want normalised go,blog", p.Tags)
	}

	// A draft is not found for anyone but its author.
	_, err := h.post.GetPost(anon(), p.ID)
	wantCode(t, "anonymous get of a draft", err, contracts.ErrNotFound)
	_, err = h.post.GetPostBySlug(h.as(reader()), p.Slug)
	wantCode(t, "reader get of a draft", err, contracts.ErrNotFound)
	if got, err := h.post.GetPostBySlug(h.as(w), p.Slug); err != nil || got.ID != p.ID {
		t.Fatalf("author get of own draft: %+v, %v", got, err)
	}

	published := contracts.PostStatusPublished
	p2, err := h.post.UpdatePost(h.as(w), contracts.UpdatePostRequest{ID: p.ID, Status: &published, ExpectedVersion: 1})
	if err != nil || p2.Status != published || p2.PublishedAt == nil || p2.Version != 2 {
		t.Fatalf("publish: %+v, %v", p2, err)
	}
	if got, err := h.post.GetPost(anon(), p.ID); err != nil || got.HTML != p.HTML {
		t.Fatalf("anonymous get of published post: %+v, %v", got, err)
	}
	title := "새 제목"
	if _, err := h.post.UpdatePost(h.as(w), contracts.UpdatePostRequest{ID: p.ID, Title: &title, ExpectedVersion: 1}); contracts.AsError(err) == nil ||
		contracts.AsError(err).Code != contracts.ErrConflict.Code {
		t.Fatalf("update at a stale version: %v, want conflict", err)
	}
	if _, err := h.post.UpdatePost(h.as(writer()), contracts.UpdatePostRequest{ID: p.ID, Title: &title}); contracts.AsError(err) == nil ||
		contracts.AsError(err).Code != contracts.ErrForbidden.Code {
		t.Fatalf("another writer's update: %v, want forbidden", err)
	}
	if _, err := h.post.UpdatePost(h.as(w), contracts.UpdatePostRequest{ID: p.ID, Title: &title}); err != nil {
		t.Fatal(err)
	}
	if err := h.post.DeletePost(h.as(w), p.ID); err != nil {
		t.Fatal(err)
	}
	_, err = h.post.GetPost(h.as(w), p.ID)
	wantCode(t, "get of a deleted post", err, contracts.ErrNotFound)

	pubs := h.WaitEvents(t, "evt.post.published."+p.ID, 1)
	var pd contracts.PostPublishedData
	if err := json.Unmarshal(pubs[0].Data, &pd); err != nil || pd.Post.ID != p.ID || pd.Post.AuthorID != w.UserID || pd.Post.Slug != p.Slug {
		t.Fatalf("post.published %+v, %v", pd, err)
	}
	ups := h.WaitEvents(t, "evt.post.updated."+p.ID, 1)
	var ud contracts.PostUpdatedData
	if err := json.Unmarshal(ups[0].Data, &ud); err != nil || ud.Post.Title != title || strings.Join(ud.Changed, ",") != "title" {
		t.Fatalf("post.updated %+v, %v", ud, err)
	}
	dels := h.WaitEvents(t, "evt.post.deleted."+p.ID, 1)
	var dd contracts.PostDeletedData
	if err := json.Unmarshal(dels[0].Data, &dd); err != nil || dd.PostID != p.ID || dd.AuthorID != w.UserID {
		t.Fatalf("post.deleted %+v, %v", dd, err)
	}
}

// Only writers write: a reader and an anonymous caller are refused by the declared access,
// before the service runs.
func TestOnlyWritersWrite(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, err := h.post.CreatePost(h.as(reader()), samplePost("by-a-reader"))
	wantCode(t, "a consumer creates a post", err, contracts.ErrForbidden)
	_, err = h.post.CreatePost(anon(), samplePost("by-nobody"))
	wantCode(t, "anonymous create", err, contracts.ErrUnauthenticated)
	_, err = h.post.CreateCategory(h.as(reader()), contracts.CreateCategoryRequest{Slug: "x", Name: "X"})
	wantCode(t, "a consumer creates a category", err, contracts.ErrForbidden)
	_, err = h.post.MyPosts(h.as(principal(contracts.RoleSeller)), contracts.PageRequest{})
	wantCode(t, "a seller lists my_posts", err, contracts.ErrForbidden)
}

// A slug is unique among live posts, and a deleted post's slug may be taken again.
func TestSlugUnique(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := writer()
	p := h.create(w, samplePost("same"))
	_, err := h.post.CreatePost(h.as(writer()), samplePost("same"))
	wantCode(t, "a taken slug", err, contracts.ErrAlreadyExists)
	if err := h.post.DeletePost(h.as(w), p.ID); err != nil {
		t.Fatal(err)
	}
	h.create(w, samplePost("same"))
}

// What readers get through the bus is the sanitised HTML (the whole corpus is in
// domain/render_test.go): stored once at write time, never the writer's raw HTML.
func TestServedHTMLIsSanitised(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	req := samplePost("xss")
	req.Body = "Hi <script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n[x](javascript:alert(1)) " +
		"<svg onload=alert(1)> <iframe src=\"https://evil.example\"></iframe>\n\n![i](data:image/svg+xml;base64,PHN2Zz4=)"
	p := h.create(writer(), req)
	got, err := h.post.GetPost(anon(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	low := strings.ToLower(got.HTML)
	for _, bad := range []string{"<script", "onerror", "onload", "javascript:", "data:", "<iframe", "<svg"} {
		if strings.Contains(low, bad) {
			t.Errorf("served HTML %q contains %q", got.HTML, bad)
		}
	}
	if !strings.Contains(got.HTML, "Hi") || got.Body != req.Body {
		t.Errorf("post %+v lost the text or the markdown", got)
	}
}
