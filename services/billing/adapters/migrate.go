// Package adapters implements billing's storage on PostgreSQL (pgx) with its events in the
// transactional outbox, and the simulated payment provider.
package adapters

import (
	"embed"

	"github.com/moa-run/moa/bus/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the schema up to date, recorded in billing_schema_version. Replicas starting
// together are serialised by tern's advisory lock.
var Migrate = pgmigrate.Service(migrations, "billing")
