package post_test

import (
	"log/slog"
	"testing"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/contracts/schemagen/requestgen"
	"github.com/moa-run/moa/moatest"
)

// TestGeneratedRequestsAgreeWithTheService sends the requests generated from the schemas
// (contracts/schemagen/requestgen) to a running post service as raw JSON, as a client written
// from the schemas would: each request valid by the schema is not refused as invalid (the
// service may still answer not_found or conflict), each invalid one is refused naming its
// field. Ids are replaced with real posts and real comments of the caller, and every category
// a request names is created first, so that the requests get past the lookups to the
// service's own checks; none of them may make an ERROR record. delete_post and delete_comment keep the example id (not_found), so that
// they delete nothing the other endpoints need.
func TestGeneratedRequestsAgreeWithTheService(t *testing.T) {
	errs := &moatest.ErrorLog{}
	h := newHarnessLogging(t, slog.New(errs))
	w := writer()
	ctx := h.as(w)
	post := h.create(w, samplePost("agreement"))
	top := h.comment(w, post.ID, "", "a top-level comment")
	// update_post gets a post of its own: its cases unpublish it and change its slug.
	edited := h.create(w, samplePost("agreement-edited"))

	categories := map[string]bool{}
	ensureCategory := func(body map[string]any) {
		slug, ok := body["category"].(string)
		if !ok || slug == "" || categories[slug] || contracts.ValidateSlug("category", slug) != nil {
			return
		}
		_, err := h.post.CreateCategory(ctx, contracts.CreateCategoryRequest{Slug: slug, Name: "Agreement"})
		if ce := contracts.AsError(err); ce != nil && ce.Code != contracts.ErrAlreadyExists.Code {
			t.Fatalf("create category %q: %v", slug, err)
		}
		categories[slug] = true
	}
	setID := func(body map[string]any, field, id string) {
		if body[field] == requestgen.ExampleUUID {
			body[field] = id
		}
	}

	sent := requestgen.Against(t, ctx, h.Runtime, []contracts.EndpointInfo{
		contracts.PostCreatePost.Info(), contracts.PostUpdatePost.Info(), contracts.PostGetPost.Info(),
		contracts.PostListPosts.Info(), contracts.PostSearchPosts.Info(), contracts.PostMyPosts.Info(),
		contracts.PostCreateCategory.Info(), contracts.PostAddComment.Info(), contracts.PostEditComment.Info(),
		contracts.PostModerateComment.Info(), contracts.PostListComments.Info(),
		contracts.PostDeleteComment.Info(), contracts.PostDeletePost.Info(),
	}, func(subject string, body map[string]any) map[string]any {
		switch subject {
		case contracts.PostCreatePost.Info().Subject:
			ensureCategory(body)
		case contracts.PostUpdatePost.Info().Subject:
			ensureCategory(body)
			setID(body, "id", edited.ID)
		case contracts.PostGetPost.Info().Subject:
			setID(body, "id", post.ID)
		case contracts.PostAddComment.Info().Subject, contracts.PostListComments.Info().Subject:
			setID(body, "post_id", post.ID)
			setID(body, "parent_id", top.ID)
		case contracts.PostEditComment.Info().Subject:
			setID(body, "id", top.ID)
		case contracts.PostModerateComment.Info().Subject:
			// A fresh comment each time: a "delete" action removes the one it names.
			setID(body, "id", h.comment(w, post.ID, "", "to moderate").ID)
		}
		return body
	})
	t.Logf("%d generated requests sent, %d categories named", sent, len(categories))
	if msgs := errs.Errors(); len(msgs) > 0 {
		t.Errorf("generated requests made %d ERROR records, first: %s", len(msgs), msgs[0])
	}
}
