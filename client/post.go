package client

import (
	"context"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// PostClient calls the blog's post service. Writing posts and categories needs a writer's
// access token on ctx (bus.WithAuthToken), commenting any signed-in user's; reads are public,
// and the author's token also finds their drafts.
type PostClient struct{ c *bus.Client }

// CreatePost writes a post by the calling writer, a draft unless req.Publish.
func (c *PostClient) CreatePost(ctx context.Context, req contracts.CreatePostRequest) (contracts.Post, error) {
	return bus.Call(ctx, c.c, contracts.PostCreatePost, req)
}

// UpdatePost changes the fields req sets on one of the calling writer's posts.
func (c *PostClient) UpdatePost(ctx context.Context, req contracts.UpdatePostRequest) (contracts.Post, error) {
	return bus.Call(ctx, c.c, contracts.PostUpdatePost, req)
}

// DeletePost deletes one of the calling writer's posts.
func (c *PostClient) DeletePost(ctx context.Context, id string) error {
	_, err := bus.Call(ctx, c.c, contracts.PostDeletePost, contracts.PostRef{ID: id})
	return err
}

// GetPost returns one post by id.
func (c *PostClient) GetPost(ctx context.Context, id string) (contracts.Post, error) {
	return bus.Call(ctx, c.c, contracts.PostGetPost, contracts.GetPostRequest{ID: id})
}

// GetPostBySlug returns one post by its slug.
func (c *PostClient) GetPostBySlug(ctx context.Context, slug string) (contracts.Post, error) {
	return bus.Call(ctx, c.c, contracts.PostGetPost, contracts.GetPostRequest{Slug: slug})
}

// ListPosts returns one page of published posts; pass the previous page's NextCursor in
// req.Cursor for the next one.
func (c *PostClient) ListPosts(ctx context.Context, req contracts.ListPostsRequest) (contracts.PostPage, error) {
	return bus.Call(ctx, c.c, contracts.PostListPosts, req)
}

// SearchPosts searches published posts by text.
func (c *PostClient) SearchPosts(ctx context.Context, req contracts.SearchPostsRequest) (contracts.PostPage, error) {
	return bus.Call(ctx, c.c, contracts.PostSearchPosts, req)
}

// MyPosts returns the calling writer's posts, drafts included, newest first.
func (c *PostClient) MyPosts(ctx context.Context, req contracts.PageRequest) (contracts.PostPage, error) {
	return bus.Call(ctx, c.c, contracts.PostMyPosts, req)
}

// CreateCategory adds a category (writers).
func (c *PostClient) CreateCategory(ctx context.Context, req contracts.CreateCategoryRequest) (contracts.Category, error) {
	return bus.Call(ctx, c.c, contracts.PostCreateCategory, req)
}

// Categories returns every category.
func (c *PostClient) Categories(ctx context.Context) (contracts.CategoryList, error) {
	return bus.Call(ctx, c.c, contracts.PostListCategories, contracts.Empty{})
}

// AddComment comments on a published post as the caller, or replies to a top-level comment.
func (c *PostClient) AddComment(ctx context.Context, req contracts.AddCommentRequest) (contracts.Comment, error) {
	return bus.Call(ctx, c.c, contracts.PostAddComment, req)
}

// EditComment changes the body of the caller's own comment.
func (c *PostClient) EditComment(ctx context.Context, id, body string) (contracts.Comment, error) {
	return bus.Call(ctx, c.c, contracts.PostEditComment, contracts.EditCommentRequest{ID: id, Body: body})
}

// DeleteComment deletes the caller's own comment.
func (c *PostClient) DeleteComment(ctx context.Context, id string) error {
	_, err := bus.Call(ctx, c.c, contracts.PostDeleteComment, contracts.CommentRef{ID: id})
	return err
}

// ModerateComment hides, unhides or deletes a comment on one of the calling writer's posts.
func (c *PostClient) ModerateComment(ctx context.Context, id string, action contracts.CommentModeration) (contracts.Comment, error) {
	return bus.Call(ctx, c.c, contracts.PostModerateComment, contracts.ModerateCommentRequest{ID: id, Action: action})
}

// ListComments returns one page of a post's comments in thread order.
func (c *PostClient) ListComments(ctx context.Context, req contracts.ListCommentsRequest) (contracts.CommentPage, error) {
	return bus.Call(ctx, c.c, contracts.PostListComments, req)
}
