// Package adapters implements the auth service's storage on PostgreSQL: accounts, sessions,
// the login throttle and signing keys, with the schema migrated by tern at start.
package adapters

import (
	"embed"

	"github.com/moa-run/moa/bus/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the schema up to date, recorded in auth_schema_version. Replicas starting
// together are serialised by tern's advisory lock.
var Migrate = pgmigrate.Service(migrations, "auth")
