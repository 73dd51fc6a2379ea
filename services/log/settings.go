package log

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moa-run/moa/bus"
)

// Defaults of the settings.
const (
	DefaultWindow          = 30 * time.Minute
	DefaultThresholds      = "100,1000,10000"
	DefaultConcurrency     = 16
	DefaultRelayInterval   = 5 * time.Second
	DefaultJanitorInterval = 10 * time.Minute
)

// The log's settings (MOA_LOG_<KEY>), read only through these declarations.
var (
	SettingWindow = bus.DurationSetting("VIEW_WINDOW", DefaultWindow, time.Second,
		"a visitor's views of a post count once per window (fixed windows aligned on the epoch)")
	SettingThresholds = bus.StringSetting("POPULAR_THRESHOLDS", DefaultThresholds,
		"comma-separated view counts at which log.post_popular is emitted, once per post each")
	SettingConsumerConcurrency = bus.IntSetting("CONSUMER_CONCURRENCY", DefaultConcurrency, 1, 1024,
		"posts whose events are applied at once")
	SettingRelayInterval = bus.DurationSetting("RELAY_INTERVAL", DefaultRelayInterval, 10*time.Millisecond,
		"how often events stored but not yet published are published")
	SettingJanitorInterval = bus.DurationSetting("JANITOR_INTERVAL", DefaultJanitorInterval, time.Nanosecond,
		"how often past dedup windows and popular buckets are deleted")
)

// Settings lists every setting the log reads, for `moa help` and the README.
var Settings = []bus.Setting{SettingWindow, SettingThresholds, SettingConsumerConcurrency, SettingRelayInterval, SettingJanitorInterval}

// ParseThresholds reads a POPULAR_THRESHOLDS value: positive counts, ascending, no duplicates
// ("" for none).
func ParseThresholds(s string) ([]int64, error) {
	var out []int64
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("log: POPULAR_THRESHOLDS: %q is not a positive count", f)
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	for i := 1; i < len(out); i++ {
		if out[i] == out[i-1] {
			return nil, fmt.Errorf("log: POPULAR_THRESHOLDS: %d is listed twice", out[i])
		}
	}
	return out, nil
}
