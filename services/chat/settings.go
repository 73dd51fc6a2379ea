package chat

import (
	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/services/chat/adapters"
)

// SettingWriters (MOA_CHAT_WRITERS) bounds the message batches written at once.
var SettingWriters = bus.IntSetting("WRITERS", adapters.DefaultWriters, 1, 64,
	"message batches written at once; messages are stored in batches (group commit), which keeps up with bursts on stores that pay per round trip")

// Settings lists every setting chat reads, for `moa help` and the README.
var Settings = []bus.Setting{SettingWriters}
