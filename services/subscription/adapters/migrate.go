// Package adapters implements the subscription service's storage on PostgreSQL (pgx) — the
// subscriptions with their outbox events, the dashboard projection and its replay from the
// streams — and its view of the catalog through the typed client.
package adapters

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// VersionTable is the subscription service's tern version table; the outbox keeps its own.
const VersionTable = "subscription_schema_version"

// Migrate brings the schema to the latest version. tern takes an advisory lock, so replicas
// starting together migrate once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("subscription: migrate: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), VersionTable)
	if err != nil {
		return fmt.Errorf("subscription: migrate: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("subscription: load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("subscription: migrate: %w", err)
	}
	return nil
}
