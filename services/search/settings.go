package search

import (
	"time"

	"github.com/moa-run/moa/bus"
)

// Defaults of the settings.
const (
	// DefaultConcurrency is how many users' searches can wait for the next batch at once: one
	// user's searches are applied in order, one at a time, so the batches (app.MaxBatch) fill
	// from this many users at most.
	DefaultConcurrency     = 256
	DefaultJanitorInterval = 10 * time.Minute
)

// Search's settings (MOA_SEARCH_<KEY>), read only through these declarations.
var (
	SettingConsumerConcurrency = bus.IntSetting("CONSUMER_CONCURRENCY", DefaultConcurrency, 1, 1024,
		"users whose searches can be gathered into one batch")
	SettingJanitorInterval = bus.DurationSetting("JANITOR_INTERVAL", DefaultJanitorInterval, time.Nanosecond,
		"how often expired searches and counters are deleted")
)

// Settings lists every setting search reads, for `moa help` and the README.
var Settings = []bus.Setting{SettingConsumerConcurrency, SettingJanitorInterval}
