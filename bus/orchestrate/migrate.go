package orchestrate

import (
	"context"
	"embed"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// VersionTable is tern's version table for the saga table, apart from the service's own
// migrations and the outbox's.
const VersionTable = "moa_orchestrate_schema_version"

// Migrate creates (or upgrades) moa_saga in the service's database. It is idempotent and safe
// to run from several instances at once. Services call it at start, next to their own
// migrations, before New.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Up(ctx, pool, migrations, "migrations", VersionTable, "orchestrate")
}
