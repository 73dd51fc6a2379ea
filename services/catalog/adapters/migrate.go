// Package adapters implements the catalog's storage, cache and dedup on PostgreSQL (pgx) and
// NATS KV, and applies the catalog's schema migrations.
package adapters

import (
	"embed"

	"github.com/moa-run/moa/bus/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the schema up to date, recorded in catalog_schema_version. Replicas starting
// together are serialised by tern's advisory lock.
var Migrate = pgmigrate.Service(migrations, "catalog")
