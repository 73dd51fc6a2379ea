package domain

import (
	"strings"
	"time"

	"github.com/moa-run/moa/contracts"
)

// Comment is a comment on a post. ThreadID is the top-level comment it belongs to (its own id
// when it is top-level), which orders a post's comments in threads.
type Comment struct {
	ID         string
	PostID     string
	ParentID   string
	ThreadID   string
	AuthorID   string
	AuthorName string
	Body       string
	Hidden     bool
	Deleted    bool
	Edited     bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// NewComment makes actor's comment on post, a reply when parent is set. Only a published post
// takes comments (a draft or a deleted post is not_found to commenters, as it is to readers),
// and threads are one level deep: a reply's parent must be a top-level comment of the post.
func NewComment(id string, actor Actor, post Post, parent *Comment, body string, now time.Time) (Comment, error) {
	if actor.UserID == "" {
		return Comment{}, contracts.ErrUnauthenticated.Msg("sign in to comment")
	}
	if post.Status != contracts.PostStatusPublished {
		return Comment{}, contracts.ErrNotFound.Msg("no such post")
	}
	body = strings.TrimSpace(body)
	if err := contracts.ValidateCommentBody(body); err != nil {
		return Comment{}, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	c := Comment{ID: id, PostID: post.ID, ThreadID: id, AuthorID: actor.UserID, AuthorName: actor.Name,
		Body: body, CreatedAt: now, UpdatedAt: now}
	if parent != nil {
		if parent.PostID != post.ID || parent.Deleted {
			return Comment{}, contracts.ErrNotFound.Msg("no such comment on this post")
		}
		if parent.ParentID != "" {
			return Comment{}, contracts.ErrValidation.OnField("parent_id", "replies go to top-level comments only")
		}
		c.ParentID, c.ThreadID = parent.ID, parent.ID
	}
	return c, nil
}

// Edit changes the body of actor's own comment.
func (c *Comment) Edit(actor Actor, body string, now time.Time) (bool, error) {
	if err := c.checkAuthor(actor); err != nil {
		return false, err
	}
	body = strings.TrimSpace(body)
	if err := contracts.ValidateCommentBody(body); err != nil {
		return false, err
	}
	if body == c.Body {
		return false, nil
	}
	c.Body, c.Edited, c.UpdatedAt = body, true, now.UTC().Truncate(time.Microsecond)
	return true, nil
}

// Delete deletes actor's own comment.
func (c *Comment) Delete(actor Actor, now time.Time) error {
	if err := c.checkAuthor(actor); err != nil {
		return err
	}
	c.Deleted, c.UpdatedAt = true, now.UTC().Truncate(time.Microsecond)
	return nil
}

// Moderate applies the post author's action to a comment on post.
func (c *Comment) Moderate(actor Actor, post Post, action contracts.CommentModeration, now time.Time) (bool, error) {
	if err := RequireWriter(actor); err != nil {
		return false, err
	}
	if post.AuthorID != actor.UserID {
		return false, contracts.ErrForbidden.Msg("only the post's author moderates its comments")
	}
	before := *c
	switch action {
	case contracts.ModerateHide:
		c.Hidden = true
	case contracts.ModerateUnhide:
		c.Hidden = false
	case contracts.ModerateDelete:
		c.Deleted = true
	default:
		return false, contracts.ErrValidation.OnField("action", "unknown action %q", action)
	}
	if *c == before {
		return false, nil
	}
	c.UpdatedAt = now.UTC().Truncate(time.Microsecond)
	return true, nil
}

func (c *Comment) checkAuthor(actor Actor) error {
	if actor.UserID == "" {
		return contracts.ErrUnauthenticated.Msg("sign in to change your comment")
	}
	if actor.UserID != c.AuthorID {
		return contracts.ErrForbidden.Msg("comment %s is someone else's", c.ID)
	}
	return nil
}

// ShownTo is c as viewer sees it in a list: a hidden comment's body only for the post's author
// (postAuthor), a deleted comment's for nobody.
func (c Comment) ShownTo(viewer Actor, postAuthor string) Comment {
	if c.Deleted || c.Hidden && (viewer.UserID == "" || viewer.UserID != postAuthor) {
		c.Body = ""
	}
	return c
}
