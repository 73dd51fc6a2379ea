package catalog

import (
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/services/catalog/ports"
)

// The catalog's settings (MOA_CATALOG_<KEY>), read only through these declarations.
var (
	SettingCacheTTL = bus.DurationSetting("CACHE_TTL", DefaultCacheTTL, 0,
		"read-cache lifetime; `0` turns the cache off")
	SettingViewWindow = bus.DurationSetting("VIEW_WINDOW", DefaultViewWindow, time.Nanosecond,
		"one counted view per viewer per product per window")
	SettingSagaAckWait = bus.DurationSetting("SAGA_ACK_WAIT", DefaultSagaAckWait, 0,
		"how long a seat change of the subscription saga may run before it is redelivered")
	SettingSagaMaxDeliver = bus.IntSetting("SAGA_MAX_DELIVER", ports.DefaultSeatMaxDeliver, 1, 10000,
		"attempts of a seat change before it is dead-lettered; the default is about 3 minutes of retries")
)

// Settings lists every setting the catalog reads, for `moa help` and the README.
var Settings = []bus.Setting{SettingCacheTTL, SettingViewWindow, SettingSagaAckWait, SettingSagaMaxDeliver}
