// Package adapters implements billing's storage on PostgreSQL (pgx) with its events in the
// transactional outbox, and the simulated payment provider.
package adapters

import (
	"context"
	"embed"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// VersionTable is the billing tern version table; the outbox keeps its own.
const VersionTable = "billing_schema_version"

// Migrate brings the schema to the latest version. tern takes an advisory lock, so replicas
// starting together migrate once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Up(ctx, pool, migrations, "migrations", VersionTable, "billing")
}
