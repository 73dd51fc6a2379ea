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
	"github.com/moa-run/moa/services/catalog/domain"
)

// Source is the event source name of the catalog.
const Source = "catalog"

// Products is the PostgreSQL store of the product aggregate. Every change and its events are
// one transaction: the events reach the stream through the outbox if and only if it commits.
type Products struct{ pool *pgxpool.Pool }

// NewProducts returns the store over pool.
func NewProducts(pool *pgxpool.Pool) *Products { return &Products{pool: pool} }

const productColumns = `id::text, seller_id, title, description, price_amount, currency, billing_period,
	terms, terms_version, capacity, seats_taken, tags, image_urls, views, version, created_at, updated_at`

func scanProduct(row pgx.Row) (domain.Product, error) {
	var p domain.Product
	err := row.Scan(&p.ID, &p.SellerID, &p.Title, &p.Description, &p.PriceAmount, &p.Currency, &p.BillingPeriod,
		&p.Terms, &p.TermsVersion, &p.Capacity, &p.SeatsTaken, &p.Tags, &p.ImageURLs, &p.Views, &p.Version, &p.CreatedAt, &p.UpdatedAt)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// Create inserts p and records ProductCreated.
func (s *Products) Create(ctx context.Context, p domain.Product) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO products (id, seller_id, title, description, price_amount, currency,
			billing_period, terms, terms_version, capacity, seats_taken, tags, image_urls, views, version, created_at, updated_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)`,
			p.ID, p.SellerID, p.Title, p.Description, p.PriceAmount, p.Currency, p.BillingPeriod, p.Terms,
			p.TermsVersion, p.Capacity, p.SeatsTaken, p.Tags, p.ImageURLs, p.Views, p.Version, p.CreatedAt, p.UpdatedAt)
		if err != nil {
			return dbError("create product", err)
		}
		_, err = outbox.Emit(ctx, tx, Source, contracts.ProductCreated, p.ID, contracts.ProductCreatedData{Product: productWire(p)})
		return err
	})
}

// Update locks the product, lets fn change it, and stores the change with its events. A change
// that changes nothing writes nothing.
func (s *Products) Update(ctx context.Context, id string, fn func(p *domain.Product) (domain.Change, error)) (domain.Product, error) {
	var out domain.Product
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		p, err := lockProduct(ctx, tx, id)
		if err != nil {
			return err
		}
		ch, err := fn(&p)
		if err != nil {
			return err
		}
		out = p
		if ch.Empty() {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE products SET title=$2, description=$3, price_amount=$4, currency=$5,
			billing_period=$6, terms=$7, terms_version=$8, capacity=$9, tags=$10, image_urls=$11, version=$12, updated_at=$13
			WHERE id=$1`,
			p.ID, p.Title, p.Description, p.PriceAmount, p.Currency, p.BillingPeriod, p.Terms, p.TermsVersion,
			p.Capacity, p.Tags, p.ImageURLs, p.Version, p.UpdatedAt)
		if err != nil {
			return dbError("update product", err)
		}
		view := productWire(p)
		if _, err := outbox.Emit(ctx, tx, Source, contracts.ProductChanged, p.ID, contracts.ProductChangedData{Product: view, Changed: ch.Fields}); err != nil {
			return err
		}
		if ch.TermsChanged {
			_, err = outbox.Emit(ctx, tx, Source, contracts.ProductTermsChanged, p.ID, contracts.ProductTermsChangedData{
				ProductID: p.ID, SellerID: p.SellerID, TermsVersion: p.TermsVersion, PreviousVersion: ch.PreviousTermsVersion, Terms: p.Terms})
		}
		return err
	})
	return out, err
}

// Delete locks the product, lets fn allow the deletion, and marks it deleted. The row stays
// (subscriptions and payments refer to it) but no read returns it.
func (s *Products) Delete(ctx context.Context, id string, fn func(p *domain.Product) error) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		p, err := lockProduct(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := fn(&p); err != nil {
			return err
		}
		var at time.Time
		if err := tx.QueryRow(ctx, `UPDATE products SET deleted_at = now(), version = version + 1 WHERE id = $1 RETURNING deleted_at`, id).Scan(&at); err != nil {
			return dbError("delete product", err)
		}
		_, err = outbox.Emit(ctx, tx, Source, contracts.ProductDeleted, p.ID, contracts.ProductDeletedData{ProductID: p.ID, SellerID: p.SellerID, DeletedAt: at.UTC()})
		return err
	})
}

// AddView increments the view count in one statement, so concurrent views are never lost.
func (s *Products) AddView(ctx context.Context, id string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `UPDATE products SET views = views + 1 WHERE id = $1 AND deleted_at IS NULL RETURNING views`, id).Scan(&n)
	return n, dbError("add view", err)
}

// Views returns the view count.
func (s *Products) Views(ctx context.Context, id string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT views FROM products WHERE id = $1 AND deleted_at IS NULL`, id).Scan(&n)
	return n, dbError("views", err)
}

func lockProduct(ctx context.Context, tx pgx.Tx, id string) (domain.Product, error) {
	p, err := scanProduct(tx.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, id))
	if err != nil {
		return p, dbError("load product", err)
	}
	return p, nil
}

func (s *Products) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return inTx(ctx, s.pool, fn)
}

// inTx runs fn in a transaction through the outbox, which wakes this process's relay at once
// after a commit that recorded events.
func inTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) error {
	err := outbox.Transact(ctx, pool, func(ctx context.Context, tx pgx.Tx) error { return fn(tx) })
	return dbError("transaction", err)
}

// dbError maps database failures to catalogue errors: a missing row is not_found, a violated
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
		return contracts.ErrNotFound.Msg("no such product")
	case errors.Is(err, context.DeadlineExceeded):
		return contracts.ErrTimeout.Msg("%s: the database did not answer in time", what).Wrap(err)
	case errors.Is(err, context.Canceled):
		return contracts.ErrCanceled.Wrap(err)
	case errors.As(err, &pe) && len(pe.Code) == 5 && pe.Code[:2] == "23":
		return contracts.ErrConflict.Msg("%s: %s", what, pe.ConstraintName).Wrap(err)
	case errors.As(err, &pe) && (pe.Code[:2] == "42" || pe.Code[:2] == "22"):
		return contracts.ErrInternal.Wrap(fmt.Errorf("%s: %w", what, err))
	}
	return contracts.ErrUnavailable.Msg("%s: the database is unavailable", what).Wrap(err)
}
