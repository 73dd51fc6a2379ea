// Package adapters implements the blog's storage on PostgreSQL (pgx) with its outbox, and
// applies the post service's schema migrations.
package adapters

import (
	"embed"

	"github.com/moa-run/moa/bus/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the schema up to date, recorded in post_schema_version. Replicas starting
// together are serialised by tern's advisory lock.
var Migrate = pgmigrate.Service(migrations, "post")
