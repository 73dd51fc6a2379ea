// Package adapters implements the subscription service's storage on PostgreSQL (pgx) — the
// subscriptions with their outbox events, the dashboard projection and its replay from the
// streams — and its view of the catalog through the typed client.
package adapters

import (
	"context"
	"embed"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// VersionTable is the subscription service's tern version table; the outbox keeps its own.
const VersionTable = "subscription_schema_version"

// Migrate brings the schema to the latest version. tern takes an advisory lock, so replicas
// starting together migrate once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Up(ctx, pool, migrations, "migrations", VersionTable, "subscription")
}
