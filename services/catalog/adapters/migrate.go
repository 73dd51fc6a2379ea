// Package adapters implements the catalog's storage, cache and dedup on PostgreSQL (pgx) and
// NATS KV, and applies the catalog's schema migrations.
package adapters

import (
	"context"
	"embed"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// VersionTable is the catalog's tern version table; the outbox keeps its own.
const VersionTable = "catalog_schema_version"

// Migrate brings the catalog schema to the latest version. tern takes an advisory lock, so
// replicas starting together migrate once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Up(ctx, pool, migrations, "migrations", VersionTable, "catalog")
}
