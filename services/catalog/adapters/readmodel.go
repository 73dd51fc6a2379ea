package adapters

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus/outbox"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/catalog/domain"
)

// ReadModel answers the catalog's queries from PostgreSQL.
type ReadModel struct{ pool *pgxpool.Pool }

// NewReadModel returns the read model over pool.
func NewReadModel(pool *pgxpool.Pool) *ReadModel { return &ReadModel{pool: pool} }

const summaryColumns = `id::text, seller_id, title, price_amount, currency, billing_period, terms_version,
	capacity, seats_taken, tags, coalesce(image_urls[1], ''), views, created_at`

func scanSummaries(rows pgx.Rows) ([]domain.Summary, error) {
	out := []domain.Summary{}
	for rows.Next() {
		var s domain.Summary
		if err := rows.Scan(&s.ID, &s.SellerID, &s.Title, &s.PriceAmount, &s.Currency, &s.BillingPeriod, &s.TermsVersion,
			&s.Capacity, &s.SeatsTaken, &s.Tags, &s.ImageURL, &s.Views, &s.CreatedAt); err != nil {
			return nil, dbError("read products", err)
		}
		s.CreatedAt = s.CreatedAt.UTC()
		if s.Tags == nil {
			s.Tags = []string{}
		}
		out = append(out, s)
	}
	return out, dbError("read products", rows.Err())
}

// Get reads one product that is not deleted.
func (r *ReadModel) Get(ctx context.Context, id string) (domain.Product, error) {
	p, err := scanProduct(r.pool.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1 AND deleted_at IS NULL`, id))
	if err != nil {
		return domain.Product{}, dbError("get product", err)
	}
	return p, nil
}

// keysets maps each sort to its ORDER BY and the row comparison that starts the next page.
// Both directions of every sort end in id, which makes the order total.
var keysets = map[contracts.ProductSort]struct{ order, after, key string }{
	contracts.SortNewest:    {"created_at DESC, id DESC", "<", "created_at"},
	contracts.SortPriceAsc:  {"price_amount ASC, id ASC", ">", "price_amount"},
	contracts.SortPriceDesc: {"price_amount DESC, id DESC", "<", "price_amount"},
	contracts.SortPopular:   {"views DESC, id DESC", "<", "views"},
}

// List reads up to q.Limit+1 summaries after q.After.
func (r *ReadModel) List(ctx context.Context, q domain.ListQuery) ([]domain.Summary, error) {
	ks, ok := keysets[q.Sort]
	if !ok {
		return nil, contracts.ErrValidation.OnField("sort", "unknown sort %q", q.Sort)
	}
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	where = append(where, "deleted_at IS NULL")
	if q.Tag != "" {
		where = append(where, "tags @> ARRAY["+arg(q.Tag)+"]::text[]")
	}
	if q.Currency != "" {
		where = append(where, "currency = "+arg(q.Currency))
	}
	if q.MinPrice != nil {
		where = append(where, "price_amount >= "+arg(*q.MinPrice))
	}
	if q.MaxPrice != nil {
		where = append(where, "price_amount <= "+arg(*q.MaxPrice))
	}
	if q.SellerID != "" {
		where = append(where, "seller_id = "+arg(q.SellerID))
	}
	if c := q.After; c != nil {
		var v any
		switch q.Sort {
		case contracts.SortNewest:
			v = c.CreatedAt
		case contracts.SortPopular:
			v = c.Views
		default:
			v = c.Price
		}
		where = append(where, fmt.Sprintf("(%s, id) %s (%s, %s::uuid)", ks.key, ks.after, arg(v), arg(c.ID)))
	}
	sql := `SELECT ` + summaryColumns + ` FROM products WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY ` + ks.order + ` LIMIT ` + arg(q.Limit+1)
	rows, err := r.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, dbError("list products", err)
	}
	defer rows.Close()
	return scanSummaries(rows)
}

// Search matches a product when the query's words are in its full text (simple
// configuration), when every word is a substring of its text (prefixes, Korean compounds, one-
// and two-letter words that have no trigrams), or when the query is trigram-similar to a word
// of it (typos). Title matches rank first, then full-text rank and similarity.
func (r *ReadModel) Search(ctx context.Context, q domain.SearchQuery) ([]domain.Summary, error) {
	patterns := make([]string, len(q.Words))
	for i, w := range q.Words {
		patterns[i] = "%" + escapeLike(w) + "%"
	}
	rows, err := r.pool.Query(ctx, `SELECT `+summaryColumns+`
		FROM products, plainto_tsquery('simple', $1) AS tsq
		WHERE deleted_at IS NULL AND (search_tsv @@ tsq OR search_text LIKE ALL ($2::text[]) OR search_text %> $1)
		ORDER BY (CASE WHEN lower(title) LIKE ALL ($2::text[]) THEN 1 ELSE 0 END
			+ ts_rank(search_tsv, tsq) + word_similarity($1, search_text)) DESC, created_at DESC, id DESC
		LIMIT $3 OFFSET $4`, q.Text, patterns, q.Limit+1, q.Offset)
	if err != nil {
		return nil, dbError("search products", err)
	}
	defer rows.Close()
	return scanSummaries(rows)
}

// escapeLike makes s match literally inside a LIKE pattern (backslash is the default escape).
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// RecordSearch emits catalog.searched through the outbox.
func (r *ReadModel) RecordSearch(ctx context.Context, userID, query string, at time.Time) error {
	return inTx(ctx, r.pool, func(tx pgx.Tx) error {
		_, err := outbox.Emit(ctx, tx, Source, contracts.CatalogSearched, userID,
			contracts.SearchedData{UserID: userID, Query: query, At: at.UTC()})
		return err
	})
}
