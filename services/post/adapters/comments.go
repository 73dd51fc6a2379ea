package adapters

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/moa-run/moa/bus/outbox"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/post/domain"
)

// commentColumns are the columns scanComment reads, of the comments table under alias t.
func commentColumns(t string) string {
	return strings.NewReplacer("$.", t+".").Replace(`$.id::text, $.post_id::text, coalesce($.parent_id::text, ''), $.thread_id::text,
	$.author_id, $.author_name, $.body, $.hidden, $.deleted_at IS NOT NULL, $.edited, $.created_at, $.updated_at`)
}

func scanComment(row pgx.Row) (domain.Comment, error) {
	var c domain.Comment
	err := row.Scan(&c.ID, &c.PostID, &c.ParentID, &c.ThreadID, &c.AuthorID, &c.AuthorName, &c.Body,
		&c.Hidden, &c.Deleted, &c.Edited, &c.CreatedAt, &c.UpdatedAt)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, err
}

// sharePost reads a live post and holds it against deletion until the transaction ends, so a
// comment never lands on a post deleted meanwhile.
func sharePost(ctx context.Context, tx pgx.Tx, id string) (domain.Post, error) {
	p, err := scanPost(tx.QueryRow(ctx, `SELECT `+postColumns+` FROM posts WHERE id = $1 AND deleted_at IS NULL FOR SHARE`, id))
	return p, dbError("load post", err)
}

// Add loads the post and the parent comment, inserts the comment fn makes of them, and records
// post.commented with whom to tell: the post's author and the parent comment's.
func (s *Store) Add(ctx context.Context, postID, parentID string, fn func(post domain.Post, parent *domain.Comment) (domain.Comment, error)) (domain.Comment, error) {
	var out domain.Comment
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		post, err := sharePost(ctx, tx, postID)
		if err != nil {
			return err
		}
		var parent *domain.Comment
		if parentID != "" {
			pc, err := scanComment(tx.QueryRow(ctx, `SELECT `+commentColumns("comments")+` FROM comments WHERE id = $1 AND deleted_at IS NULL`, parentID))
			if err != nil {
				return dbError("load parent comment", err)
			}
			parent = &pc
		}
		c, err := fn(post, parent)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO comments (id, post_id, parent_id, thread_id, author_id, author_name, body, created_at, updated_at)
			VALUES ($1, $2, nullif($3, '')::uuid, $4, $5, $6, $7, $8, $9)`,
			c.ID, c.PostID, c.ParentID, c.ThreadID, c.AuthorID, c.AuthorName, c.Body, c.CreatedAt, c.UpdatedAt)
		if err != nil {
			return dbError("add comment", err)
		}
		data := contracts.PostCommentedData{PostID: post.ID, PostSlug: post.Slug, PostTitle: post.Title, PostAuthorID: post.AuthorID,
			CommentID: c.ID, AuthorID: c.AuthorID, AuthorName: c.AuthorName, ParentID: c.ParentID,
			Excerpt: domain.Excerpt(c.Body, contracts.MaxExcerptLen), CommentedAt: c.CreatedAt}
		if parent != nil {
			data.ParentAuthorID = parent.AuthorID
		}
		out = c
		_, err = outbox.Emit(ctx, tx, Source, contracts.PostCommented, post.ID, data)
		return err
	})
	return out, err
}

// Change locks a live comment of a live post, lets fn change it, and stores the change.
func (s *Store) Change(ctx context.Context, id string, fn func(c *domain.Comment, post domain.Post) (bool, error)) (domain.Comment, error) {
	var out domain.Comment
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := scanComment(tx.QueryRow(ctx, `SELECT `+commentColumns("comments")+` FROM comments WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, id))
		if err != nil {
			return dbError("load comment", err)
		}
		post, err := sharePost(ctx, tx, c.PostID)
		if err != nil {
			return err
		}
		changed, err := fn(&c, post)
		if err != nil {
			return err
		}
		out = c
		if !changed {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE comments SET body = $2, hidden = $3, edited = $4, updated_at = $5,
			deleted_at = CASE WHEN $6 THEN $5::timestamptz END WHERE id = $1`,
			c.ID, c.Body, c.Hidden, c.Edited, c.UpdatedAt, c.Deleted)
		return dbError("change comment", err)
	})
	return out, err
}
