package post_test

import (
	"encoding/json"
	"testing"

	"github.com/moa-run/moa/contracts"
)

// Comments thread one level deep, list in thread order, are edited and deleted by their
// authors only, and each emits post.commented naming whom to tell.
func TestCommentThreads(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w, alice, bob := writer(), reader(), reader()
	p := h.create(w, samplePost("threads"))

	a1 := h.comment(alice, p.ID, "", "첫 댓글")
	b1 := h.comment(bob, p.ID, "", "second top-level")
	r1 := h.comment(bob, p.ID, a1.ID, "reply to alice")
	r2 := h.comment(w, p.ID, a1.ID, "the author replies")
	if r1.ParentID != a1.ID || r1.AuthorName != bob.DisplayName {
		t.Fatalf("reply %+v", r1)
	}
	// A reply to a reply is refused: threads are one level deep.
	_, err := h.post.AddComment(h.as(alice), contracts.AddCommentRequest{PostID: p.ID, ParentID: r1.ID, Body: "too deep"})
	wantCode(t, "reply to a reply", err, contracts.ErrValidation)
	// A parent of another post is not found on this one.
	other := h.create(w, samplePost("other"))
	_, err = h.post.AddComment(h.as(alice), contracts.AddCommentRequest{PostID: other.ID, ParentID: a1.ID, Body: "wrong post"})
	wantCode(t, "reply to another post's comment", err, contracts.ErrNotFound)
	// Anonymous callers read but do not comment.
	_, err = h.post.AddComment(anon(), contracts.AddCommentRequest{PostID: p.ID, Body: "anon"})
	wantCode(t, "anonymous comment", err, contracts.ErrUnauthenticated)

	// Thread order across pages of two: a1, its replies, then b1.
	var got []string
	req := contracts.ListCommentsRequest{PostID: p.ID, Limit: 2}
	for i := 0; ; i++ {
		page, err := h.post.ListComments(anon(), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Items {
			got = append(got, c.ID)
		}
		if page.NextCursor == "" || i > 5 {
			break
		}
		req.Cursor = page.NextCursor
	}
	want := []string{a1.ID, r1.ID, r2.ID, b1.ID}
	if len(got) != len(want) {
		t.Fatalf("comments %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("comment %d is %s, want %s (order %v)", i, got[i], want[i], got)
		}
	}

	// Only the author edits or deletes a comment.
	_, err = h.post.EditComment(h.as(bob), a1.ID, "bob's edit")
	wantCode(t, "edit of someone else's comment", err, contracts.ErrForbidden)
	err = h.post.DeleteComment(h.as(w), a1.ID)
	wantCode(t, "the post author deletes through delete_comment", err, contracts.ErrForbidden)
	if c, err := h.post.EditComment(h.as(alice), a1.ID, "고친 댓글"); err != nil || c.Body != "고친 댓글" || !c.Edited {
		t.Fatalf("edit: %+v, %v", c, err)
	}
	if err := h.post.DeleteComment(h.as(bob), b1.ID); err != nil {
		t.Fatal(err)
	}
	// A deleted comment without replies is gone; one with replies stays as a placeholder.
	if err := h.post.DeleteComment(h.as(alice), a1.ID); err != nil {
		t.Fatal(err)
	}
	page, err := h.post.ListComments(anon(), contracts.ListCommentsRequest{PostID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 3 || page.Items[0].ID != a1.ID || !page.Items[0].Deleted || page.Items[0].Body != "" ||
		page.Items[1].ID != r1.ID || page.Items[2].ID != r2.ID {
		t.Fatalf("after deletes: %+v", page.Items)
	}
	// A deleted comment takes no more replies and no edits.
	_, err = h.post.AddComment(h.as(bob), contracts.AddCommentRequest{PostID: p.ID, ParentID: a1.ID, Body: "late"})
	wantCode(t, "reply to a deleted comment", err, contracts.ErrNotFound)
	_, err = h.post.EditComment(h.as(alice), a1.ID, "again")
	wantCode(t, "edit of a deleted comment", err, contracts.ErrNotFound)

	// post.commented names the post's author and, for a reply, the parent comment's author.
	evs := h.WaitEvents(t, "evt.post.commented."+p.ID, 4)
	byComment := map[string]contracts.PostCommentedData{}
	for _, e := range evs {
		var d contracts.PostCommentedData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		byComment[d.CommentID] = d
	}
	if d := byComment[a1.ID]; d.PostAuthorID != w.UserID || d.AuthorID != alice.UserID || d.ParentAuthorID != "" || d.PostTitle != p.Title {
		t.Errorf("post.commented of a top-level comment: %+v", d)
	}
	if d := byComment[r1.ID]; d.PostAuthorID != w.UserID || d.AuthorID != bob.UserID || d.ParentID != a1.ID || d.ParentAuthorID != alice.UserID {
		t.Errorf("post.commented of a reply: %+v", d)
	}
}

// A post's author hides, unhides and deletes comments on it; a hidden body is shown only to
// them; nobody else moderates.
func TestModeration(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w, alice := writer(), reader()
	p := h.create(w, samplePost("moderated"))
	c := h.comment(alice, p.ID, "", "spam spam")

	_, err := h.post.ModerateComment(h.as(writer()), c.ID, contracts.ModerateHide)
	wantCode(t, "another writer moderates", err, contracts.ErrForbidden)
	_, err = h.post.ModerateComment(h.as(alice), c.ID, contracts.ModerateHide)
	wantCode(t, "a reader moderates", err, contracts.ErrForbidden)

	hidden, err := h.post.ModerateComment(h.as(w), c.ID, contracts.ModerateHide)
	if err != nil || !hidden.Hidden || hidden.Body != "spam spam" {
		t.Fatalf("hide: %+v, %v", hidden, err)
	}
	for who, ctx := range map[string]contracts.Principal{"alice": alice, "another reader": reader()} {
		page, err := h.post.ListComments(h.as(ctx), contracts.ListCommentsRequest{PostID: p.ID})
		if err != nil || len(page.Items) != 1 || !page.Items[0].Hidden || page.Items[0].Body != "" {
			t.Fatalf("%s sees %+v, %v; want a hidden comment without its body", who, page.Items, err)
		}
	}
	page, err := h.post.ListComments(h.as(w), contracts.ListCommentsRequest{PostID: p.ID})
	if err != nil || len(page.Items) != 1 || page.Items[0].Body != "spam spam" {
		t.Fatalf("the post's author sees %+v, %v", page.Items, err)
	}
	if u, err := h.post.ModerateComment(h.as(w), c.ID, contracts.ModerateUnhide); err != nil || u.Hidden {
		t.Fatalf("unhide: %+v, %v", u, err)
	}
	if _, err := h.post.ModerateComment(h.as(w), c.ID, contracts.ModerateDelete); err != nil {
		t.Fatal(err)
	}
	page, err = h.post.ListComments(anon(), contracts.ListCommentsRequest{PostID: p.ID})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("after moderation delete: %+v, %v", page.Items, err)
	}
	_, err = h.post.ModerateComment(h.as(w), c.ID, contracts.ModerateUnhide)
	wantCode(t, "moderating a deleted comment", err, contracts.ErrNotFound)
}

// Comments on a deleted, draft or missing post are not_found, and so are its comment lists.
func TestCommentOnMissingPost(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w, alice := writer(), reader()
	p := h.create(w, samplePost("to-delete"))
	c := h.comment(alice, p.ID, "", "before")
	if err := h.post.DeletePost(h.as(w), p.ID); err != nil {
		t.Fatal(err)
	}
	_, err := h.post.AddComment(h.as(alice), contracts.AddCommentRequest{PostID: p.ID, Body: "after"})
	wantCode(t, "comment on a deleted post", err, contracts.ErrNotFound)
	_, err = h.post.AddComment(h.as(alice), contracts.AddCommentRequest{PostID: p.ID, ParentID: c.ID, Body: "after"})
	wantCode(t, "reply on a deleted post", err, contracts.ErrNotFound)
	_, err = h.post.EditComment(h.as(alice), c.ID, "edited after")
	wantCode(t, "edit on a deleted post", err, contracts.ErrNotFound)
	_, err = h.post.ListComments(anon(), contracts.ListCommentsRequest{PostID: p.ID})
	wantCode(t, "comments of a deleted post", err, contracts.ErrNotFound)

	_, err = h.post.AddComment(h.as(alice), contracts.AddCommentRequest{PostID: "0190a1b2-0000-7000-8000-000000000000", Body: "x"})
	wantCode(t, "comment on a missing post", err, contracts.ErrNotFound)

	draft := samplePost("draft")
	draft.Publish = false
	d := h.create(w, draft)
	_, err = h.post.AddComment(h.as(alice), contracts.AddCommentRequest{PostID: d.ID, Body: "x"})
	wantCode(t, "comment on a draft", err, contracts.ErrNotFound)
}
