package post_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// Bad input is refused with validation_failed naming its field, before anything is stored or
// published. Slugs with '.', '*', '>' or spaces — which would change the meaning of a NATS
// subject — are among them; the service keys its events by post id, so no slug ever reaches a
// subject even when valid.
func TestBadInputRefused(t *testing.T) {
	t.Parallel()
	errs := &moatest.ErrorLog{}
	h := newHarnessLogging(t, slog.New(errs))
	w := writer()
	with := func(f func(r *contracts.CreatePostRequest)) contracts.CreatePostRequest {
		r := samplePost("valid-slug")
		f(&r)
		return r
	}
	for _, tc := range []struct {
		name  string
		req   contracts.CreatePostRequest
		field string
	}{
		{"dot", with(func(r *contracts.CreatePostRequest) { r.Slug = "a.b" }), "slug"},
		{"star", with(func(r *contracts.CreatePostRequest) { r.Slug = "evt.*" }), "slug"},
		{"gt", with(func(r *contracts.CreatePostRequest) { r.Slug = "a>" }), "slug"},
		{"lone gt", with(func(r *contracts.CreatePostRequest) { r.Slug = ">" }), "slug"},
		{"space", with(func(r *contracts.CreatePostRequest) { r.Slug = "hello world" }), "slug"},
		{"tab", with(func(r *contracts.CreatePostRequest) { r.Slug = "hello\tworld" }), "slug"},
		{"upper case", with(func(r *contracts.CreatePostRequest) { r.Slug = "Hello" }), "slug"},
		{"slash", with(func(r *contracts.CreatePostRequest) { r.Slug = "a/b" }), "slug"},
		{"leading hyphen", with(func(r *contracts.CreatePostRequest) { r.Slug = "-a" }), "slug"},
		{"double hyphen", with(func(r *contracts.CreatePostRequest) { r.Slug = "a--b" }), "slug"},
		{"empty slug", with(func(r *contracts.CreatePostRequest) { r.Slug = "" }), "slug"},
		{"long slug", with(func(r *contracts.CreatePostRequest) { r.Slug = strings.Repeat("a", contracts.MaxSlugLen+1) }), "slug"},
		{"fullwidth dot", with(func(r *contracts.CreatePostRequest) { r.Slug = "a．b" }), "slug"},
		{"empty title", with(func(r *contracts.CreatePostRequest) { r.Title = "  " }), "title"},
		{"control in title", with(func(r *contracts.CreatePostRequest) { r.Title = "a\x00b" }), "title"},
		{"huge body", with(func(r *contracts.CreatePostRequest) { r.Body = strings.Repeat("x", contracts.MaxPostBodyLen+1) }), "body"},
		{"bad tag", with(func(r *contracts.CreatePostRequest) { r.Tags = []string{"a.b"} }), "tags"},
		{"too many tags", with(func(r *contracts.CreatePostRequest) { r.Tags = strings.Fields("a b c d e f g h i j k") }), "tags"},
		{"bad category", with(func(r *contracts.CreatePostRequest) { r.Category = "a b" }), "category"},
		{"bad cover", with(func(r *contracts.CreatePostRequest) { r.CoverImageID = "../x" }), "cover_image_id"},
		{"cover url", with(func(r *contracts.CreatePostRequest) { r.CoverImageID = "javascript:alert(1)" }), "cover_image_id"},
		{"long cover", with(func(r *contracts.CreatePostRequest) { r.CoverImageID = strings.Repeat("a", 65) }), "cover_image_id"},
	} {
		_, err := h.post.CreatePost(h.as(w), tc.req)
		ce := contracts.AsError(err)
		if ce == nil || ce.Code != contracts.ErrValidation.Code || ce.Field != tc.field {
			t.Errorf("%s: got %v, want validation_failed on %s", tc.name, err, tc.field)
		}
	}
	// Lookups and updates by slug are checked the same way.
	_, err := h.post.GetPostBySlug(anon(), "evt.post.>")
	wantCode(t, "get by a subject-like slug", err, contracts.ErrValidation)
	p := h.create(w, samplePost("한글-슬러그-ok"))
	bad := "x y"
	_, err = h.post.UpdatePost(h.as(w), contracts.UpdatePostRequest{ID: p.ID, Slug: &bad})
	wantCode(t, "update to a slug with a space", err, contracts.ErrValidation)
	_, err = h.post.GetPost(anon(), "not-a-uuid")
	wantCode(t, "get by a malformed id", err, contracts.ErrValidation)
	_, err = h.post.ListPosts(anon(), contracts.ListPostsRequest{Tag: "a>b"})
	wantCode(t, "list by a bad tag", err, contracts.ErrValidation)
	_, err = h.post.AddComment(h.as(reader()), contracts.AddCommentRequest{PostID: p.ID, Body: strings.Repeat("가", contracts.MaxCommentLen+1)})
	wantCode(t, "an overlong comment", err, contracts.ErrValidation)
	_, err = h.post.ModerateComment(h.as(w), p.ID, "ban")
	wantCode(t, "an unknown moderation", err, contracts.ErrValidation)

	// Nothing of the refused posts was stored or published: one post, one event.
	var n int
	if err := h.Postgres.QueryRow(context.Background(), `SELECT count(*) FROM posts`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d posts stored, %v; want only the valid one", n, err)
	}
	h.WaitEvents(t, "evt.post.>", 1)
	if e := errs.Errors(); len(e) > 0 {
		t.Fatalf("bad input logged errors: %q", e)
	}
}
