package pglocal

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// CreateDatabase creates database name on the server adminURL points at.
// It works on any server, local or not.
func CreateDatabase(ctx context.Context, adminURL, name string) error {
	return adminExec(ctx, adminURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize(), "create database "+name)
}

// DropDatabase drops database name if it exists, disconnecting whoever is
// still connected to it (a test's pool that was not closed must not make
// its cleanup fail).
func DropDatabase(ctx context.Context, adminURL, name string) error {
	return adminExec(ctx, adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)", "drop database "+name)
}

func adminExec(ctx context.Context, adminURL, sql, what string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("pglocal: %s: connect: %w", what, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pglocal: %s: %w", what, err)
	}
	return nil
}
