// Package adapters implements the auth service's storage on PostgreSQL: accounts, sessions,
// the login throttle and signing keys, with the schema migrated by tern at start.
package adapters

import (
	"context"
	"embed"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// VersionTable is the auth service's own tern version table.
const VersionTable = "auth_schema_version"

// Migrate brings the schema up to date. Replicas starting together are serialised by tern's
// advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Up(ctx, pool, migrations, "migrations", VersionTable, "auth")
}
