package outbox

import (
	"context"
	"embed"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// VersionTable is tern's version table for the outbox and inbox schema, apart from the
// service's own migrations.
const VersionTable = "moa_bus_schema_version"

// Migrate creates (or upgrades) moa_outbox and moa_inbox in the service's database. It is
// idempotent and safe to run from several instances at once (tern serialises migrators with
// an advisory lock). Services call it at start, next to their own migrations.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Up(ctx, pool, migrations, "migrations", VersionTable, "outbox")
}
