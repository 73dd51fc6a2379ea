// Package adapters implements the notify service's storage on PostgreSQL (notifications with
// per-user sequences, the directory, the mail queue), the mail transports (SMTP, dev mailbox)
// and its sender loop, the subscription client and the live pushes.
package adapters

import (
	"context"
	"embed"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moa-run/moa/bus/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// VersionTable is notify's tern version table; the inbox keeps its own.
const VersionTable = "notify_schema_version"

// Migrate brings the notify schema to the latest version. tern takes an advisory lock, so
// replicas starting together migrate once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Up(ctx, pool, migrations, "migrations", VersionTable, "notify")
}
