package adapters

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus/outbox"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/post/domain"
)

// Source is the event source name of the post service.
const Source = "post"

// Store is the PostgreSQL store of posts, categories and comments. Every change and its
// events are one transaction: the events reach the stream through the outbox if and only if
// it commits.
type Store struct{ pool *pgxpool.Pool }

// NewStore returns the store over pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const postColumns = `id::text, author_id, slug, title, body, html, body_text, coalesce(category, ''), tags, status,
	cover_image_id, version, created_at, updated_at, published_at`

func scanPost(row pgx.Row) (domain.Post, error) {
	var p domain.Post
	err := row.Scan(&p.ID, &p.AuthorID, &p.Slug, &p.Title, &p.Body, &p.HTML, &p.Text, &p.Category, &p.Tags, &p.Status,
		&p.CoverImageID, &p.Version, &p.CreatedAt, &p.UpdatedAt, &p.PublishedAt)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	if p.PublishedAt != nil {
		t := p.PublishedAt.UTC()
		p.PublishedAt = &t
	}
	if p.Tags == nil {
		p.Tags = []string{}
	}
	return p, err
}

// Create inserts p, and records post.published if it is published.
func (s *Store) Create(ctx context.Context, p domain.Post) error {
	return inTx(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO posts (id, author_id, slug, title, body, html, body_text, category, tags, status,
			cover_image_id, version, created_at, updated_at, published_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,nullif($8, ''),$9,$10,$11,$12,$13,$14,$15)`,
			p.ID, p.AuthorID, p.Slug, p.Title, p.Body, p.HTML, p.Text, p.Category, p.Tags, p.Status,
			p.CoverImageID, p.Version, p.CreatedAt, p.UpdatedAt, p.PublishedAt)
		if err != nil {
			return dbError("create post", err)
		}
		if p.Status != contracts.PostStatusPublished {
			return nil
		}
		_, err = outbox.Emit(ctx, tx, Source, contracts.PostPublished, p.ID, contracts.PostPublishedData{Post: summaryWire(p.Summarise())})
		return err
	})
}

// Update locks the post, lets fn change it, and stores the change with its event:
// post.published when it published the post, post.updated for any other change. A change that
// changes nothing writes nothing.
func (s *Store) Update(ctx context.Context, id string, fn func(p *domain.Post) (domain.Change, error)) (domain.Post, error) {
	var out domain.Post
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		p, err := scanPost(tx.QueryRow(ctx, `SELECT `+postColumns+` FROM posts WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, id))
		if err != nil {
			return dbError("load post", err)
		}
		ch, err := fn(&p)
		if err != nil {
			return err
		}
		out = p
		if ch.Empty() {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE posts SET slug=$2, title=$3, body=$4, html=$5, body_text=$6, category=nullif($7, ''),
			tags=$8, status=$9, cover_image_id=$10, version=$11, updated_at=$12, published_at=$13 WHERE id=$1`,
			p.ID, p.Slug, p.Title, p.Body, p.HTML, p.Text, p.Category, p.Tags, p.Status, p.CoverImageID, p.Version, p.UpdatedAt, p.PublishedAt)
		if err != nil {
			return dbError("update post", err)
		}
		sum := summaryWire(p.Summarise())
		if ch.Published {
			_, err = outbox.Emit(ctx, tx, Source, contracts.PostPublished, p.ID, contracts.PostPublishedData{Post: sum})
		} else {
			_, err = outbox.Emit(ctx, tx, Source, contracts.PostUpdated, p.ID, contracts.PostUpdatedData{Post: sum, Changed: ch.Fields})
		}
		return err
	})
	return out, err
}

// Delete locks the post, lets fn allow the deletion, and marks it deleted. The row stays, so
// that its comments keep their foreign key, but no read returns it or them.
func (s *Store) Delete(ctx context.Context, id string, fn func(p *domain.Post) error) error {
	return inTx(ctx, s.pool, func(tx pgx.Tx) error {
		p, err := scanPost(tx.QueryRow(ctx, `SELECT `+postColumns+` FROM posts WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, id))
		if err != nil {
			return dbError("load post", err)
		}
		if err := fn(&p); err != nil {
			return err
		}
		var at time.Time
		if err := tx.QueryRow(ctx, `UPDATE posts SET deleted_at = now(), version = version + 1 WHERE id = $1 RETURNING deleted_at`, id).Scan(&at); err != nil {
			return dbError("delete post", err)
		}
		_, err = outbox.Emit(ctx, tx, Source, contracts.PostDeleted, p.ID, contracts.PostDeletedData{PostID: p.ID, AuthorID: p.AuthorID, DeletedAt: at.UTC()})
		return err
	})
}

// CreateCategory inserts a category unless the blog has contracts.MaxCategories already. The
// table lock serialises category inserts only (posts referencing categories take weaker
// locks), so two writers cannot both see room for the last one.
func (s *Store) CreateCategory(ctx context.Context, c domain.Category) error {
	return inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE categories IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return dbError("lock categories", err)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM categories`).Scan(&n); err != nil {
			return dbError("count categories", err)
		}
		if n >= contracts.MaxCategories {
			return contracts.ErrConflict.Msg("the blog has %d categories, the most it may have", contracts.MaxCategories)
		}
		_, err := tx.Exec(ctx, `INSERT INTO categories (slug, name, created_at) VALUES ($1, $2, $3)`, c.Slug, c.Name, c.CreatedAt)
		return dbError("create category", err)
	})
}

// inTx runs fn in a transaction through the outbox, which wakes this process's relay at once
// after a commit that recorded events.
func inTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) error {
	err := outbox.Transact(ctx, pool, func(ctx context.Context, tx pgx.Tx) error { return fn(tx) })
	return dbError("transaction", err)
}

// dbError maps database failures to contract errors: a missing row is not_found, a taken slug
// already_exists, an unknown category a validation error of the field, another violated
// constraint a conflict, a timeout a timeout, and anything else a transient unavailability
// (or internal, for errors that retrying cannot fix).
func dbError(what string, err error) error {
	if err == nil {
		return nil
	}
	var ce *contracts.Error
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &ce):
		return err
	case errors.Is(err, pgx.ErrNoRows):
		return contracts.ErrNotFound.Msg("no such %s", noun(what))
	case errors.Is(err, context.DeadlineExceeded):
		return contracts.ErrTimeout.Msg("%s: the database did not answer in time", what).Wrap(err)
	case errors.Is(err, context.Canceled):
		return contracts.ErrCanceled.Wrap(err)
	case errors.As(err, &pe) && pe.ConstraintName == "posts_slug_key":
		return contracts.ErrAlreadyExists.Msg("another post has this slug").Wrap(err)
	case errors.As(err, &pe) && pe.ConstraintName == "categories_pkey":
		return contracts.ErrAlreadyExists.Msg("the category exists").Wrap(err)
	case errors.As(err, &pe) && pe.ConstraintName == "posts_category_fkey":
		return contracts.ErrValidation.OnField("category", "no such category")
	case errors.As(err, &pe) && len(pe.Code) == 5 && pe.Code[:2] == "23":
		return contracts.ErrConflict.Msg("%s: %s", what, pe.ConstraintName).Wrap(err)
	case errors.As(err, &pe) && len(pe.Code) == 5 && (pe.Code[:2] == "42" || pe.Code[:2] == "22"):
		return contracts.ErrInternal.Wrap(fmt.Errorf("%s: %w", what, err))
	}
	return contracts.ErrUnavailable.Msg("%s: the database is unavailable", what).Wrap(err)
}

// noun is what a not_found names: "no such comment" for comment work, else "no such post".
func noun(what string) string {
	if len(what) >= 7 && what[len(what)-7:] == "comment" {
		return "comment"
	}
	return "post"
}
