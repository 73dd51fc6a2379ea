package payout

import (
	"math"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/services/payout/domain"
)

// Payout's settings (MOA_PAYOUT_<KEY>), read only through these declarations.
var (
	SettingFeeBps = bus.IntSetting("FEE_BPS", 1000, 0, 10000,
		"platform fee kept on each payment, in basis points (1000 = 10%); refunds take the whole payment back off the seller")
	SettingSnapshotEvery = bus.IntSetting("SNAPSHOT_EVERY", 100, 1, math.MaxInt32,
		"a ledger snapshot every this many entries: a load reads the snapshot and at most this many entries after it")
	// The remembered ids travel in the ledger's snapshot, one NATS message: at about 39 bytes an
	// id (a quoted UUID and a comma), 20 000 of them stay well under NATS's 1 MB max payload with
	// the rest of the ledger; a larger window would make every snapshot fail to save.
	SettingSeenWindow = bus.IntSetting("DEDUPE_WINDOW", domain.DefaultSeenWindow, 1, 20_000,
		"ledger entry ids each ledger remembers to drop duplicates, beside the stream's duplicate window; at most 20000, so that a snapshot fits in NATS's 1 MB max payload")
	SettingScheduleInterval = bus.DurationSetting("SCHEDULE_INTERVAL", 24*time.Hour, time.Millisecond,
		"how often every balance of at least `MIN_PAYOUT` is paid out and pending payouts retried")
	SettingMinPayout = bus.IntSetting("MIN_PAYOUT", 1000, 1, math.MaxInt,
		"smallest balance (minor units) the schedule pays out")
	SettingRetryAfter = bus.DurationSetting("RETRY_AFTER", time.Minute, 0,
		"how long a payout stays pending (the bank did not answer) before the schedule sends it again")
	SettingBankFailPercent = bus.IntSetting("BANK_FAIL_PERCENT", 0, 0, 100,
		"share of payouts the simulated bank rejects (chosen by payout id, so always the same ones); they are reversed")
	SettingConsumerConcurrency = bus.IntSetting("CONSUMER_CONCURRENCY", 8, 1, math.MaxInt,
		"billing events handled in parallel (one subscription's in order)")
)

// Settings lists every setting payout reads, for `moa help` and the README.
var Settings = []bus.Setting{SettingFeeBps, SettingSnapshotEvery, SettingSeenWindow, SettingScheduleInterval,
	SettingMinPayout, SettingRetryAfter, SettingBankFailPercent, SettingConsumerConcurrency}
