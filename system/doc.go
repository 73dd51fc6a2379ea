// Package system assembles Moa in one process: NATS (embedded or external), one PostgreSQL
// database and one MongoDB database per service (local servers under a data dir, or external
// URLs), one bus runtime, the event streams declared in contracts, the services from the
// registry (services.go), and an HTTP server for /healthz, /readyz, /metrics and the edge.
//
// `moa dev` calls [Start] with embedded defaults; `moa serve SVC...` calls it with
// Config.External set, so nothing is started locally and missing URLs are errors; tests call
// it through system/systemtest.
//
// Durability choice for the embedded NATS: Config.NATS.SyncAlways fsyncs every JetStream write
// before the ack. `moa dev` sets it by default (MOA_NATS_SYNC_ALWAYS, default true: on the dev
// VM it still acknowledges about 3,000 publishes/s, far above a development load; see the
// README). Without it an acked event is in the kernel's page cache, so it survives a crash of
// the moa process but not a power loss; the zero Config (tests) keeps that faster trade.
// Production runs an external nats-server whose config decides (deploy/nats/nats.conf sets
// sync_interval: always).
//
// Authorization of the embedded NATS: with Config.NATS.Authorize (`moa dev`) the server admits
// only the users of NATSUsers, the same users and permissions deploy/nats/nats.conf is
// generated from; each service then connects as itself on a runtime of its own, the process
// and the operator tools as the operator user. Tests leave it off.
package system
