package subscription

import (
	"time"

	"github.com/moa-run/moa/bus"
)

// The subscription service's settings (MOA_SUBSCRIPTION_<KEY>), read only through these
// declarations.
var (
	SettingStuckAfter = bus.DurationSetting("STUCK_AFTER", DefaultStuckAfter, time.Nanosecond,
		"a saga that has not moved for this long has its step re-emitted")
	SettingTimeoutAfter = bus.DurationSetting("TIMEOUT_AFTER", DefaultTimeoutAfter, time.Nanosecond,
		"a `PENDING` saga this old is cancelled with reason `timed_out`")
	SettingSweepInterval = bus.DurationSetting("SWEEP_INTERVAL", DefaultSweepInterval, time.Nanosecond,
		"how often stuck sagas are looked for")
	// SettingSagaAckWait was ACK_WAIT, still read (deprecated).
	SettingSagaAckWait = bus.DurationSetting("SAGA_ACK_WAIT", DefaultAckWait, time.Nanosecond,
		"how long a saga step may run before it is redelivered").WithAliases("ACK_WAIT")
	SettingConsumerConcurrency = bus.IntSetting("CONSUMER_CONCURRENCY", DefaultConcurrency, 1, 256,
		"events handled in parallel per consumer")
)

// Settings lists every setting the subscription service reads, for `moa help` and the README.
var Settings = []bus.Setting{SettingStuckAfter, SettingTimeoutAfter, SettingSweepInterval, SettingSagaAckWait,
	SettingConsumerConcurrency}
