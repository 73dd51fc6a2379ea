package app

import (
	"context"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/post/domain"
)

// CreatePost writes a post by actor, published or as a draft.
func (a *App) CreatePost(ctx context.Context, actor domain.Actor, f domain.Fields) (domain.Post, error) {
	p, err := domain.NewPost(a.newID(), actor, f, a.now())
	if err != nil {
		return domain.Post{}, err
	}
	return p, a.posts.Create(ctx, p)
}

// UpdatePost applies patch to the post if actor wrote it.
func (a *App) UpdatePost(ctx context.Context, actor domain.Actor, id string, patch domain.Patch) (domain.Post, error) {
	if err := domain.RequireWriter(actor); err != nil {
		return domain.Post{}, err
	}
	// Render before the store locks the post's row: see Patch.Prepare.
	if err := patch.Prepare(); err != nil {
		return domain.Post{}, err
	}
	now := a.now()
	return a.posts.Update(ctx, id, func(p *domain.Post) (domain.Change, error) { return p.Apply(actor, patch, now) })
}

// DeletePost deletes the post if actor wrote it. Its comments go with it: they are only ever
// read through their post.
func (a *App) DeletePost(ctx context.Context, actor domain.Actor, id string) error {
	if err := domain.RequireWriter(actor); err != nil {
		return err
	}
	return a.posts.Delete(ctx, id, func(p *domain.Post) error { return p.CheckOwner(actor) })
}

// CreateCategory adds a category.
func (a *App) CreateCategory(ctx context.Context, actor domain.Actor, slug, name string) (domain.Category, error) {
	c, err := domain.NewCategory(actor, slug, name, a.now())
	if err != nil {
		return domain.Category{}, err
	}
	return c, a.posts.CreateCategory(ctx, c)
}

// AddComment comments on a published post as actor, or replies to a top-level comment of it.
func (a *App) AddComment(ctx context.Context, actor domain.Actor, postID, parentID, body string) (domain.Comment, error) {
	if actor.UserID == "" {
		return domain.Comment{}, contracts.ErrUnauthenticated.Msg("sign in to comment")
	}
	id, now := a.newID(), a.now()
	return a.comments.Add(ctx, postID, parentID, func(post domain.Post, parent *domain.Comment) (domain.Comment, error) {
		return domain.NewComment(id, actor, post, parent, body, now)
	})
}

// EditComment changes the body of actor's own comment.
func (a *App) EditComment(ctx context.Context, actor domain.Actor, id, body string) (domain.Comment, error) {
	now := a.now()
	return a.comments.Change(ctx, id, func(c *domain.Comment, _ domain.Post) (bool, error) { return c.Edit(actor, body, now) })
}

// DeleteComment deletes actor's own comment.
func (a *App) DeleteComment(ctx context.Context, actor domain.Actor, id string) error {
	now := a.now()
	_, err := a.comments.Change(ctx, id, func(c *domain.Comment, _ domain.Post) (bool, error) { return true, c.Delete(actor, now) })
	return err
}

// ModerateComment applies the post author's action to a comment on their post. The answer
// shows the comment as its moderator sees it.
func (a *App) ModerateComment(ctx context.Context, actor domain.Actor, id string, action contracts.CommentModeration) (domain.Comment, error) {
	now := a.now()
	var author string
	c, err := a.comments.Change(ctx, id, func(c *domain.Comment, post domain.Post) (bool, error) {
		author = post.AuthorID
		return c.Moderate(actor, post, action, now)
	})
	return c.ShownTo(actor, author), err
}
