// Package ports exposes the post service on the bus: its request endpoints, with the caller's
// identity verified from the access token the request carries. It maps the contracts' DTOs to
// and from domain and app types; the app never sees one.
package ports

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/post/app"
	"github.com/moa-run/moa/services/post/domain"
)

// Endpoints adapts the app to contracts. It never reads a user id from a request body: the
// caller is who the verified token says.
type Endpoints struct {
	app *app.App
}

// Register adds every post endpoint to svc. Who may call what is declared in contracts and
// checked by the bus with v before a handler runs; the app checks that a post's writer is its
// author, a comment's editor its author and a moderator the post's author.
func Register(svc *bus.Service, a *app.App, v *authn.Verifier) error {
	svc.UseVerifier(v)
	e := &Endpoints{app: a}
	for _, err := range []error{
		bus.Handle(svc, contracts.PostCreatePost, e.createPost),
		bus.Handle(svc, contracts.PostUpdatePost, e.updatePost),
		bus.Handle(svc, contracts.PostDeletePost, e.deletePost),
		bus.Handle(svc, contracts.PostGetPost, e.getPost),
		bus.Handle(svc, contracts.PostListPosts, e.listPosts),
		bus.Handle(svc, contracts.PostSearchPosts, e.searchPosts),
		bus.Handle(svc, contracts.PostMyPosts, e.myPosts),
		bus.Handle(svc, contracts.PostCreateCategory, e.createCategory),
		bus.Handle(svc, contracts.PostListCategories, e.listCategories),
		bus.Handle(svc, contracts.PostAddComment, e.addComment),
		bus.Handle(svc, contracts.PostEditComment, e.editComment),
		bus.Handle(svc, contracts.PostDeleteComment, e.deleteComment),
		bus.Handle(svc, contracts.PostModerateComment, e.moderateComment),
		bus.Handle(svc, contracts.PostListComments, e.listComments),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// actor is the caller the bus verified, or the zero (anonymous) actor.
func actor(ctx context.Context) domain.Actor {
	p, _ := bus.Caller(ctx)
	return domain.Actor{UserID: p.UserID, Role: p.Role, Name: p.DisplayName}
}

func (e *Endpoints) createPost(ctx context.Context, r contracts.CreatePostRequest) (contracts.Post, error) {
	status := contracts.PostStatusDraft
	if r.Publish {
		status = contracts.PostStatusPublished
	}
	p, err := e.app.CreatePost(ctx, actor(ctx), domain.Fields{Slug: r.Slug, Title: r.Title, Body: r.Body, Category: r.Category,
		Tags: r.Tags, CoverImageID: r.CoverImageID, Status: status})
	if err != nil {
		return contracts.Post{}, err
	}
	return postView(p), nil
}

func (e *Endpoints) updatePost(ctx context.Context, r contracts.UpdatePostRequest) (contracts.Post, error) {
	p, err := e.app.UpdatePost(ctx, actor(ctx), r.ID, domain.Patch{Slug: r.Slug, Title: r.Title, Body: r.Body, Category: r.Category,
		Tags: r.Tags, CoverImageID: r.CoverImageID, Status: r.Status, ExpectedVersion: r.ExpectedVersion})
	if err != nil {
		return contracts.Post{}, err
	}
	return postView(p), nil
}

func (e *Endpoints) deletePost(ctx context.Context, r contracts.PostRef) (contracts.Empty, error) {
	return contracts.Empty{}, e.app.DeletePost(ctx, actor(ctx), r.ID)
}

func (e *Endpoints) getPost(ctx context.Context, r contracts.GetPostRequest) (contracts.Post, error) {
	p, err := e.app.GetPost(ctx, actor(ctx), r.ID, r.Slug)
	if err != nil {
		return contracts.Post{}, err
	}
	return postView(p), nil
}

func (e *Endpoints) listPosts(ctx context.Context, r contracts.ListPostsRequest) (contracts.PostPage, error) {
	q, err := domain.NewListQuery(r.Category, r.Tag, r.Limit, r.Cursor)
	if err != nil {
		return contracts.PostPage{}, err
	}
	return pageView(e.app.ListPosts(ctx, q))
}

func (e *Endpoints) searchPosts(ctx context.Context, r contracts.SearchPostsRequest) (contracts.PostPage, error) {
	q, err := domain.NewSearchQuery(r.Query, r.Limit, r.Cursor)
	if err != nil {
		return contracts.PostPage{}, err
	}
	return pageView(e.app.SearchPosts(ctx, q))
}

func (e *Endpoints) myPosts(ctx context.Context, r contracts.PageRequest) (contracts.PostPage, error) {
	return pageView(e.app.MyPosts(ctx, actor(ctx), r.Limit, r.Cursor))
}

func (e *Endpoints) createCategory(ctx context.Context, r contracts.CreateCategoryRequest) (contracts.Category, error) {
	c, err := e.app.CreateCategory(ctx, actor(ctx), r.Slug, r.Name)
	if err != nil {
		return contracts.Category{}, err
	}
	return categoryView(c), nil
}

func (e *Endpoints) listCategories(ctx context.Context, _ contracts.Empty) (contracts.CategoryList, error) {
	cs, err := e.app.Categories(ctx)
	if err != nil {
		return contracts.CategoryList{}, err
	}
	out := contracts.CategoryList{Items: make([]contracts.Category, 0, len(cs))}
	for _, c := range cs {
		out.Items = append(out.Items, categoryView(c))
	}
	return out, nil
}

func (e *Endpoints) addComment(ctx context.Context, r contracts.AddCommentRequest) (contracts.Comment, error) {
	c, err := e.app.AddComment(ctx, actor(ctx), r.PostID, r.ParentID, r.Body)
	if err != nil {
		return contracts.Comment{}, err
	}
	return commentView(c), nil
}

func (e *Endpoints) editComment(ctx context.Context, r contracts.EditCommentRequest) (contracts.Comment, error) {
	c, err := e.app.EditComment(ctx, actor(ctx), r.ID, r.Body)
	if err != nil {
		return contracts.Comment{}, err
	}
	return commentView(c), nil
}

func (e *Endpoints) deleteComment(ctx context.Context, r contracts.CommentRef) (contracts.Empty, error) {
	return contracts.Empty{}, e.app.DeleteComment(ctx, actor(ctx), r.ID)
}

func (e *Endpoints) moderateComment(ctx context.Context, r contracts.ModerateCommentRequest) (contracts.Comment, error) {
	c, err := e.app.ModerateComment(ctx, actor(ctx), r.ID, r.Action)
	if err != nil {
		return contracts.Comment{}, err
	}
	return commentView(c), nil
}

func (e *Endpoints) listComments(ctx context.Context, r contracts.ListCommentsRequest) (contracts.CommentPage, error) {
	q, err := domain.NewCommentQuery(r.PostID, r.Limit, r.Cursor)
	if err != nil {
		return contracts.CommentPage{}, err
	}
	page, err := e.app.ListComments(ctx, actor(ctx), q)
	if err != nil {
		return contracts.CommentPage{}, err
	}
	out := contracts.CommentPage{Items: make([]contracts.Comment, 0, len(page.Items)), NextCursor: page.NextCursor}
	for _, c := range page.Items {
		out.Items = append(out.Items, commentView(c))
	}
	return out, nil
}
