package app

import (
	"context"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/post/domain"
)

// PostPage is one page of a post list. NextCursor is empty on the last page.
type PostPage struct {
	Items      []domain.Summary
	NextCursor string
}

// CommentPage is one page of a post's comments.
type CommentPage struct {
	Items      []domain.Comment
	NextCursor string
}

// GetPost reads a post by id or slug: published for anyone, a draft for its author only
// (anyone else gets not_found, as if it did not exist).
func (a *App) GetPost(ctx context.Context, actor domain.Actor, id, slug string) (domain.Post, error) {
	var p domain.Post
	var err error
	if id != "" {
		p, err = a.read.Get(ctx, id)
	} else {
		p, err = a.read.GetBySlug(ctx, slug)
	}
	if err != nil {
		return domain.Post{}, err
	}
	if !p.VisibleTo(actor) {
		return domain.Post{}, contracts.ErrNotFound.Msg("no such post")
	}
	return p, nil
}

// ListPosts reads one page of published posts.
func (a *App) ListPosts(ctx context.Context, q domain.ListQuery) (PostPage, error) {
	rows, err := a.read.List(ctx, q)
	if err != nil {
		return PostPage{}, err
	}
	page := PostPage{Items: rows}
	if len(rows) > q.Limit {
		page.Items = rows[:q.Limit]
		page.NextCursor = q.NextCursor(page.Items[q.Limit-1])
	}
	return page, nil
}

// MyPosts lists the writer's own posts, drafts included, newest first.
func (a *App) MyPosts(ctx context.Context, actor domain.Actor, limit int, cursor string) (PostPage, error) {
	if err := domain.RequireWriter(actor); err != nil {
		return PostPage{}, err
	}
	q, err := domain.NewMineQuery(actor.UserID, limit, cursor)
	if err != nil {
		return PostPage{}, err
	}
	return a.ListPosts(ctx, q)
}

// SearchPosts searches published posts by text.
func (a *App) SearchPosts(ctx context.Context, q domain.SearchQuery) (PostPage, error) {
	rows, err := a.read.Search(ctx, q)
	if err != nil {
		return PostPage{}, err
	}
	page := PostPage{Items: rows}
	if len(rows) > q.Limit {
		page.Items = rows[:q.Limit]
		page.NextCursor = q.NextCursor()
	}
	return page, nil
}

// Categories lists every category.
func (a *App) Categories(ctx context.Context) ([]domain.Category, error) {
	return a.read.Categories(ctx)
}

// ListComments reads one page of a published post's comments as actor sees them (hidden
// bodies only for the post's author). Comments of a draft, deleted or missing post are
// not_found.
func (a *App) ListComments(ctx context.Context, actor domain.Actor, q domain.CommentQuery) (CommentPage, error) {
	post, err := a.read.Get(ctx, q.PostID)
	if err != nil {
		return CommentPage{}, err
	}
	if post.Status != contracts.PostStatusPublished {
		return CommentPage{}, contracts.ErrNotFound.Msg("no such post")
	}
	rows, err := a.read.Comments(ctx, q)
	if err != nil {
		return CommentPage{}, err
	}
	page := CommentPage{Items: make([]domain.Comment, 0, len(rows))}
	for _, c := range rows[:min(len(rows), q.Limit)] {
		page.Items = append(page.Items, c.ShownTo(actor, post.AuthorID))
	}
	if len(rows) > q.Limit {
		page.NextCursor = q.NextCursor(page.Items[q.Limit-1])
	}
	return page, nil
}
