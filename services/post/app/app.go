// Package app holds the blog's use cases: the commands that change posts, categories and
// comments (through the domain's rules, with their events in the same transaction) and the
// queries that read them. Storage is an interface implemented in adapters. It works on domain
// types and its own results (PostPage, CommentPage); ports map them to and from the contracts'
// DTOs.
package app

import (
	"context"
	"time"

	"github.com/moa-run/moa/services/post/domain"
)

// Posts stores the aggregate. Update and Delete run fn on the locked current post inside one
// transaction, and write the events that describe the change in that transaction too.
type Posts interface {
	Create(ctx context.Context, p domain.Post) error
	Update(ctx context.Context, id string, fn func(p *domain.Post) (domain.Change, error)) (domain.Post, error)
	Delete(ctx context.Context, id string, fn func(p *domain.Post) error) error
	CreateCategory(ctx context.Context, c domain.Category) error
}

// Comments stores comments. Add loads the post (and the parent comment, if parentID is set)
// and inserts what fn makes of them, with post.commented; Change locks a comment that is not
// deleted, with its post, and stores what fn did to it. Both fail with not_found when the post
// is deleted or missing.
type Comments interface {
	Add(ctx context.Context, postID, parentID string, fn func(post domain.Post, parent *domain.Comment) (domain.Comment, error)) (domain.Comment, error)
	Change(ctx context.Context, id string, fn func(c *domain.Comment, post domain.Post) (bool, error)) (domain.Comment, error)
}

// ReadModel answers the queries straight from the database. Deleted posts are never returned;
// drafts are, and the app decides who sees them.
type ReadModel interface {
	Get(ctx context.Context, id string) (domain.Post, error)
	GetBySlug(ctx context.Context, slug string) (domain.Post, error)
	// List and Search return up to Limit+1 rows, so the caller learns whether another page
	// exists.
	List(ctx context.Context, q domain.ListQuery) ([]domain.Summary, error)
	Search(ctx context.Context, q domain.SearchQuery) ([]domain.Summary, error)
	Categories(ctx context.Context) ([]domain.Category, error)
	Comments(ctx context.Context, q domain.CommentQuery) ([]domain.Comment, error)
}

// App is the blog's application service.
type App struct {
	posts    Posts
	comments Comments
	read     ReadModel
	newID    func() string
	now      func() time.Time
}

// New wires the use cases.
func New(posts Posts, comments Comments, read ReadModel, newID func() string) *App {
	return &App{posts: posts, comments: comments, read: read, newID: newID, now: time.Now}
}
