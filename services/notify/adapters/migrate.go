// Package adapters implements the notify service's storage on PostgreSQL (notifications with
// per-user sequences, the directory, the mail queue), the mail transports (SMTP, dev mailbox)
// and its sender loop, the subscription client and the live pushes.
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

// VersionTable is notify's tern version table; the inbox keeps its own.
const VersionTable = "notify_schema_version"

// Migrate brings the notify schema to the latest version. tern takes an advisory lock, so
// replicas starting together migrate once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("notify: migrate: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), VersionTable)
	if err != nil {
		return fmt.Errorf("notify: migrate: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("notify: load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("notify: migrate: %w", err)
	}
	return nil
}
