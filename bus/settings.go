package bus

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Service settings (MOA_<SERVICE>_<KEY>), read through the Env the host passes, so each service
// parses and bounds them the same way and says which setting is wrong.

// Get returns the setting key, trimmed; "" when unset or when the host gives no settings.
func (e Env) Get(key string) string {
	if e.Setting == nil {
		return ""
	}
	return strings.TrimSpace(e.Setting(key))
}

// Int reads key as an integer in [lo, hi]; def when unset.
func (e Env) Int(key string, def, lo, hi int) (int, error) {
	s := e.Get(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		if hi == math.MaxInt {
			return 0, fmt.Errorf("setting %s=%q: want an integer of at least %d", key, s, lo)
		}
		return 0, fmt.Errorf("setting %s=%q: want an integer from %d to %d", key, s, lo, hi)
	}
	return n, nil
}

// Duration reads key as a Go duration ("30s", "10m") of at least lo; def when unset.
func (e Env) Duration(key string, def, lo time.Duration) (time.Duration, error) {
	s := e.Get(key)
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < lo {
		return 0, fmt.Errorf("setting %s=%q: want a duration like 30s of at least %v", key, s, lo)
	}
	return d, nil
}
