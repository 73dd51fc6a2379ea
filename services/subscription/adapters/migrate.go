// Package adapters implements the subscription service's storage on PostgreSQL (pgx) — the
// subscriptions with their outbox events, the dashboard projection and its replay from the
// streams — and its view of the catalog through the typed client.
package adapters

import (
	"embed"

	"github.com/moa-run/moa/bus/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the schema up to date, recorded in subscription_schema_version. Replicas starting
// together are serialised by tern's advisory lock.
var Migrate = pgmigrate.Service(migrations, "subscription")
