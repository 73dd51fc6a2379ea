package billing

import (
	"math"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/services/billing/adapters"
)

// Defaults of the settings.
const (
	DefaultSimSeed = 1
	// DefaultSagaAckWait is how soon a saga step delivered to an instance that died, or by a
	// consumer leader that died, comes back: the bus keeps every message it holds alive with
	// InProgress every AckWait/3, so it never limits a step's run. At 30 s, a kill of the node
	// leading the saga's consumers stalled the sagas in flight 30 s (the target is 10 s;
	// TestSagaFailoverKillAndFreeze in internal/sagasuite).
	DefaultSagaAckWait = 5 * time.Second
	DefaultConcurrency = 8
)

// Billing's settings (MOA_BILLING_<KEY>), read only through these declarations.
var (
	SettingProvider = bus.StringSetting("PROVIDER", "sim",
		"payment provider; only `sim`, the built-in simulated provider").WithOneOf("sim")
	SettingSimDeclineRate = bus.FloatSetting("SIM_DECLINE_RATE", 0, 0, 1,
		"share of charges the simulated provider declines")
	SettingSimTimeoutRate = bus.FloatSetting("SIM_TIMEOUT_RATE", 0, 0, 1,
		"share of provider calls that time out with an unknown outcome")
	SettingSimLatency = bus.DurationSetting("SIM_LATENCY", 0, 0,
		"how long every simulated provider call takes")
	SettingSimLateRate = bus.FloatSetting("SIM_LATE_RATE", 0, 0, 1,
		"share of provider calls that time out unrecorded and land `MOA_BILLING_SIM_LATE_DELAY` later")
	SettingSimLateDelay = bus.DurationSetting("SIM_LATE_DELAY", adapters.DefaultSimLateDelay, time.Millisecond,
		"how long after its timeout a late provider call lands")
	SettingSimSeed = bus.IntSetting("SIM_SEED", DefaultSimSeed, 0, math.MaxInt,
		"seed that makes the simulated declines and timeouts reproducible")
	// SettingSagaAckWait was ACK_WAIT, still read (deprecated).
	SettingSagaAckWait = bus.DurationSetting("SAGA_ACK_WAIT", DefaultSagaAckWait, time.Millisecond,
		"how long a saga step may run before it is redelivered").WithAliases("ACK_WAIT")
	SettingConsumerConcurrency = bus.IntSetting("CONSUMER_CONCURRENCY", DefaultConcurrency, 1, 256,
		"saga steps handled in parallel per consumer")
)

// Settings lists every setting billing reads, for `moa help` and the README.
var Settings = []bus.Setting{SettingProvider, SettingSimDeclineRate, SettingSimTimeoutRate, SettingSimLatency,
	SettingSimLateRate, SettingSimLateDelay, SettingSimSeed, SettingSagaAckWait, SettingConsumerConcurrency}
