package post

import "github.com/moa-run/moa/bus"

// DefaultMaxConns is the PostgreSQL pool size of one instance: every endpoint holds one
// connection for one short transaction, and the outbox relay one more.
const DefaultMaxConns = 16

// The post service's settings (MOA_POST_<KEY>), read only through these declarations.
var (
	SettingMaxConns = bus.IntSetting("MAX_CONNS", DefaultMaxConns, 2, 256,
		"PostgreSQL connections of one instance, when the database URL allows fewer")
)

// Settings lists every setting the post service reads, for `moa help` and the README.
var Settings = []bus.Setting{SettingMaxConns}
