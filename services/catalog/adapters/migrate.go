// Package adapters implements the catalog's storage, cache and dedup on PostgreSQL (pgx) and
// NATS KV, and applies the catalog's schema migrations.
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

// VersionTable is the catalog's tern version table; the outbox keeps its own.
const VersionTable = "catalog_schema_version"

// Migrate brings the catalog schema to the latest version. tern takes an advisory lock, so
// replicas starting together migrate once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("catalog: migrate: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), VersionTable)
	if err != nil {
		return fmt.Errorf("catalog: migrate: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("catalog: load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("catalog: migrate: %w", err)
	}
	return nil
}
