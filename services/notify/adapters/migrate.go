// Package adapters implements the notify service's storage on PostgreSQL (notifications with
// per-user sequences, the directory, the mail queue), the mail transports (SMTP, dev mailbox)
// and its sender loop, the subscription client and the live pushes.
package adapters

import (
	"embed"

	"github.com/moa-run/moa/bus/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the schema up to date, recorded in notify_schema_version. Replicas starting
// together are serialised by tern's advisory lock.
var Migrate = pgmigrate.Service(migrations, "notify")
