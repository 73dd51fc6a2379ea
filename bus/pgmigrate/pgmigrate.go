// Package pgmigrate applies a service's embedded SQL migrations with tern. Every PostgreSQL
// service (and the outbox) keeps its own version table, so several schemas can share one
// database without stepping on each other, and replicas starting together migrate once: tern
// serialises migrators with an advisory lock.
package pgmigrate

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// Up brings the schema to the latest version: the migrations are the *.sql files in dir of
// files (usually an embed.FS), applied in order, recorded in versionTable. name prefixes errors.
func Up(ctx context.Context, pool *pgxpool.Pool, files fs.FS, dir, versionTable, name string) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", name, err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), versionTable)
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", name, err)
	}
	sub, err := fs.Sub(files, dir)
	if err != nil {
		return fmt.Errorf("%s: migrations: %w", name, err)
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("%s: load migrations: %w", name, err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("%s: migrate: %w", name, err)
	}
	return nil
}

// Service returns a service's migration: the *.sql files in migrations/ of files, recorded in
// the version table <service>_schema_version. It is what a service hands to the host
// (host.Postgres.Migrate), so that no service writes its own migration code.
func Service(files fs.FS, service string) func(ctx context.Context, pool *pgxpool.Pool) error {
	return func(ctx context.Context, pool *pgxpool.Pool) error {
		return Up(ctx, pool, files, "migrations", service+"_schema_version", service)
	}
}
