package adapters

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/post/domain"
)

const summaryColumns = `id::text, author_id, slug, title, left(body_text, 400), coalesce(category, ''), tags, status,
	cover_image_id, created_at, published_at`

func scanSummaries(rows pgx.Rows) ([]domain.Summary, error) {
	out := []domain.Summary{}
	for rows.Next() {
		var s domain.Summary
		if err := rows.Scan(&s.ID, &s.AuthorID, &s.Slug, &s.Title, &s.Excerpt, &s.Category, &s.Tags, &s.Status,
			&s.CoverImageID, &s.CreatedAt, &s.PublishedAt); err != nil {
			return nil, dbError("read posts", err)
		}
		s.Excerpt = domain.Excerpt(s.Excerpt, contracts.MaxExcerptLen)
		s.CreatedAt = s.CreatedAt.UTC()
		if s.PublishedAt != nil {
			t := s.PublishedAt.UTC()
			s.PublishedAt = &t
		}
		if s.Tags == nil {
			s.Tags = []string{}
		}
		out = append(out, s)
	}
	return out, dbError("read posts", rows.Err())
}

// Get reads one post that is not deleted, draft or published.
func (s *Store) Get(ctx context.Context, id string) (domain.Post, error) {
	p, err := scanPost(s.pool.QueryRow(ctx, `SELECT `+postColumns+` FROM posts WHERE id = $1 AND deleted_at IS NULL`, id))
	return p, dbError("get post", err)
}

// GetBySlug reads the live post with slug.
func (s *Store) GetBySlug(ctx context.Context, slug string) (domain.Post, error) {
	p, err := scanPost(s.pool.QueryRow(ctx, `SELECT `+postColumns+` FROM posts WHERE slug = $1 AND deleted_at IS NULL`, slug))
	return p, dbError("get post", err)
}

// List reads up to q.Limit+1 summaries after q.After: published posts by publication, or a
// writer's own by creation.
func (s *Store) List(ctx context.Context, q domain.ListQuery) ([]domain.Summary, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	where = append(where, "deleted_at IS NULL")
	key := "published_at"
	switch q.Kind {
	case domain.ListPublished:
		where = append(where, "status = 'published'")
	case domain.ListMine:
		key = "created_at"
		where = append(where, "author_id = "+arg(q.AuthorID))
	default:
		return nil, contracts.ErrInternal.Msg("unknown list %q", q.Kind)
	}
	if q.Category != "" {
		where = append(where, "category = "+arg(q.Category))
	}
	if q.Tag != "" {
		where = append(where, "tags @> ARRAY["+arg(q.Tag)+"]::text[]")
	}
	if c := q.After; c != nil {
		where = append(where, fmt.Sprintf("(%s, id) < (%s, %s::uuid)", key, arg(c.At), arg(c.ID)))
	}
	sql := `SELECT ` + summaryColumns + ` FROM posts WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY ` + key + ` DESC, id DESC LIMIT ` + arg(q.Limit+1)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, dbError("list posts", err)
	}
	defer rows.Close()
	return scanSummaries(rows)
}

// Search matches a published post as the catalog matches a product: when the query's words
// are in its full text (simple configuration, so Korean and English words alike), when every
// word is a substring of its text (prefixes, Korean compounds such as 맛집 in 서울맛집, words too
// short for trigrams), or when the query is trigram-similar to a word of it (typos). Title
// matches rank first, then full-text rank and similarity.
func (s *Store) Search(ctx context.Context, q domain.SearchQuery) ([]domain.Summary, error) {
	patterns := make([]string, len(q.Words))
	for i, w := range q.Words {
		patterns[i] = "%" + escapeLike(w) + "%"
	}
	rows, err := s.pool.Query(ctx, `SELECT `+summaryColumns+`
		FROM posts, plainto_tsquery('simple', $1) AS tsq
		WHERE deleted_at IS NULL AND status = 'published'
			AND (search_tsv @@ tsq OR search_text LIKE ALL ($2::text[]) OR search_text %> $1)
		ORDER BY (CASE WHEN lower(title) LIKE ALL ($2::text[]) THEN 1 ELSE 0 END
			+ ts_rank(search_tsv, tsq) + word_similarity($1, search_text)) DESC, published_at DESC, id DESC
		LIMIT $3 OFFSET $4`, q.Text, patterns, q.Limit+1, q.Offset)
	if err != nil {
		return nil, dbError("search posts", err)
	}
	defer rows.Close()
	return scanSummaries(rows)
}

// escapeLike makes s match literally inside a LIKE pattern (backslash is the default escape).
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Categories reads every category by name.
func (s *Store) Categories(ctx context.Context) ([]domain.Category, error) {
	rows, err := s.pool.Query(ctx, `SELECT slug, name, created_at FROM categories ORDER BY name, slug`)
	if err != nil {
		return nil, dbError("list categories", err)
	}
	defer rows.Close()
	out := []domain.Category{}
	for rows.Next() {
		var c domain.Category
		if err := rows.Scan(&c.Slug, &c.Name, &c.CreatedAt); err != nil {
			return nil, dbError("list categories", err)
		}
		c.CreatedAt = c.CreatedAt.UTC()
		out = append(out, c)
	}
	return out, dbError("list categories", rows.Err())
}

// Comments reads up to q.Limit+1 comments of a post in thread order after q.After. A deleted
// comment stays as a placeholder while it has live replies, so they keep their thread.
func (s *Store) Comments(ctx context.Context, q domain.CommentQuery) ([]domain.Comment, error) {
	args := []any{q.PostID, q.Limit + 1}
	after := ""
	if c := q.After; c != nil {
		args = append(args, c.Thread, c.Reply, c.ID)
		after = ` AND (c.thread_id, c.is_reply, c.id) > ($3::uuid, $4, $5::uuid)`
	}
	rows, err := s.pool.Query(ctx, `SELECT `+commentColumns("c")+` FROM comments c
		WHERE c.post_id = $1 AND (c.deleted_at IS NULL OR (NOT c.is_reply AND EXISTS (
			SELECT 1 FROM comments r WHERE r.parent_id = c.id AND r.deleted_at IS NULL)))`+after+`
		ORDER BY c.thread_id, c.is_reply, c.id LIMIT $2`, args...)
	if err != nil {
		return nil, dbError("list comments", err)
	}
	defer rows.Close()
	out := []domain.Comment{}
	for rows.Next() {
		c, err := scanComment(rows)
		if err != nil {
			return nil, dbError("list comments", err)
		}
		out = append(out, c)
	}
	return out, dbError("list comments", rows.Err())
}
