package bus

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reading settings: only through their declarations (settings.go), which give the default
// and the bounds, and only declared ones when the host says which are (Env.Declared).

// get returns the setting's raw value, trimmed; "" when unset (also under its aliases) or
// when the host gives no settings. It refuses a setting the service did not declare.
func (e Env) get(s Setting) (string, error) {
	if e.Declared != nil && !Declared(e.Declared, s.Key) {
		return "", fmt.Errorf("setting %s is read but not declared in the service's Settings", s.Key)
	}
	if e.Setting == nil {
		return "", nil
	}
	if v := strings.TrimSpace(e.Setting(s.Key)); v != "" {
		return v, nil
	}
	for _, old := range s.Aliases {
		if v := strings.TrimSpace(e.Setting(old)); v != "" {
			if e.Logger != nil {
				e.Logger.Warn("deprecated setting name: rename it", "setting", old, "new_name", s.Key)
			}
			return v, nil
		}
	}
	return "", nil
}

// value reads s (its default when unset) and parses it.
func (e Env) value(s Setting, want ...SettingKind) (any, error) {
	if !slices.Contains(want, s.Kind) {
		return nil, fmt.Errorf("setting %s is a %s, read as a %s", s.Key, s.Kind, want[0])
	}
	v, err := e.get(s)
	if err != nil {
		return nil, err
	}
	if v == "" {
		v = s.Default
	}
	return s.parse(v)
}

// parse checks v against the declaration; "" (unset, no default) is the kind's zero value.
func (s Setting) parse(v string) (any, error) {
	bad := func() error {
		shown := strconv.Quote(v)
		if s.Kind == KindSecret {
			shown = "(secret)" // a secret's value stays out of logs and errors
		}
		if c := s.Constraint(); c != "" {
			return fmt.Errorf("setting %s=%s: want %s", s.Key, shown, strings.ReplaceAll(c, "`", ""))
		}
		return fmt.Errorf("setting %s=%s is not valid", s.Key, shown)
	}
	switch s.Kind {
	case KindString, KindSecret:
		if v == "" {
			return "", nil
		}
		if len(s.OneOf) > 0 && !slices.Contains(s.OneOf, v) {
			return nil, bad()
		}
		if s.Min != "" {
			n, _ := strconv.Atoi(s.Min)
			if len(v) < n {
				return nil, bad()
			}
		}
		return v, nil
	case KindInt:
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || s.Min != "" && n < atoi(s.Min) || s.Max != "" && n > atoi(s.Max) {
			return nil, bad()
		}
		return n, nil
	case KindFloat:
		if v == "" {
			return 0.0, nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || s.Min != "" && f < atof(s.Min) || s.Max != "" && f > atof(s.Max) {
			return nil, bad()
		}
		return f, nil
	case KindDuration:
		if v == "" {
			return time.Duration(0), nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || s.Min != "" && d < atod(s.Min) || s.Max != "" && d > atod(s.Max) {
			return nil, bad()
		}
		return d, nil
	case KindBool:
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, bad()
		}
		return b, nil
	}
	return nil, fmt.Errorf("setting %s has the unknown kind %q", s.Key, string(s.Kind))
}

// The bounds were rendered by the constructors, so they parse.
func atoi(s string) int            { n, _ := strconv.Atoi(s); return n }
func atof(s string) float64        { f, _ := strconv.ParseFloat(s, 64); return f }
func atod(s string) time.Duration  { d, _ := time.ParseDuration(s); return d }
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// as unwraps what value parsed (its kind was checked, so the assertion holds).
func as[T any](v any, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	return v.(T), nil
}

// String reads a string or secret setting; its default when unset.
func (e Env) String(s Setting) (string, error) {
	return as[string](e.value(s, KindString, KindSecret))
}

// Int reads an integer setting within its bounds; its default when unset.
func (e Env) Int(s Setting) (int, error) { return as[int](e.value(s, KindInt)) }

// Float reads a number setting within its bounds; its default when unset.
func (e Env) Float(s Setting) (float64, error) { return as[float64](e.value(s, KindFloat)) }

// Duration reads a duration setting of at least its minimum; its default when unset.
func (e Env) Duration(s Setting) (time.Duration, error) {
	return as[time.Duration](e.value(s, KindDuration))
}

// Bool reads a boolean setting; its default when unset.
func (e Env) Bool(s Setting) (bool, error) { return as[bool](e.value(s, KindBool)) }
