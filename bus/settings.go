package bus

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Service settings (MOA_<SERVICE>_<KEY>) are declared once, as Setting values that each service
// package lists in its Settings, and read only through those declarations (Env.Int(s) and its
// siblings). The declaration carries what used to be written three times: the key, the kind of
// value, its default and bounds, and the documentation `moa help` and the README print. So
// every service parses and bounds settings the same way and says which setting is wrong.

// SettingKind is the type of a setting's value.
type SettingKind string

// The kinds of settings.
const (
	KindString   SettingKind = "string"
	KindSecret   SettingKind = "secret" // a string never printed (help shows no default)
	KindInt      SettingKind = "int"
	KindFloat    SettingKind = "float"
	KindDuration SettingKind = "duration" // a Go duration: 30s, 10m, 720h
	KindBool     SettingKind = "bool"
)

// Setting declares one service setting. Build it with the constructors (IntSetting,
// DurationSetting, ...), which render typed defaults and bounds into text, so that the Go
// constants they come from stay the only copy.
type Setting struct {
	Key  string // upper-case, as in MOA_<SERVICE>_<KEY>
	Kind SettingKind
	// Default is the value when unset, in the setting's own syntax ("30s", "8"); "" for none.
	Default string
	// Min and Max bound the value (inclusive), in its syntax; "" for no bound. For strings
	// and secrets, Min is the least length.
	Min, Max string
	// OneOf lists the values a string setting accepts (empty: any).
	OneOf []string
	// Aliases are older keys still read when Key is unset, with a deprecation warning.
	Aliases []string
	// Doc says what the setting does (Markdown code spans allowed), for `moa help` and the
	// README; the kind, bounds and default are added when they are printed.
	Doc string
}

// StringSetting declares a free-form string setting.
func StringSetting(key, def, doc string) Setting {
	return Setting{Key: key, Kind: KindString, Default: def, Doc: doc}
}

// SecretSetting declares a secret of at least minLen characters (0: any), with no default.
func SecretSetting(key string, minLen int, doc string) Setting {
	s := Setting{Key: key, Kind: KindSecret, Doc: doc}
	if minLen > 0 {
		s.Min = strconv.Itoa(minLen)
	}
	return s
}

// IntSetting declares an integer in [lo, hi] (hi math.MaxInt: no upper bound).
func IntSetting(key string, def, lo, hi int, doc string) Setting {
	s := Setting{Key: key, Kind: KindInt, Default: strconv.Itoa(def), Min: strconv.Itoa(lo), Doc: doc}
	if hi != math.MaxInt {
		s.Max = strconv.Itoa(hi)
	}
	return s
}

// FloatSetting declares a number in [lo, hi] (hi +Inf: no upper bound).
func FloatSetting(key string, def, lo, hi float64, doc string) Setting {
	s := Setting{Key: key, Kind: KindFloat, Default: formatFloat(def), Min: formatFloat(lo), Doc: doc}
	if !math.IsInf(hi, 1) {
		s.Max = formatFloat(hi)
	}
	return s
}

// DurationSetting declares a Go duration of at least lo.
func DurationSetting(key string, def, lo time.Duration, doc string) Setting {
	return Setting{Key: key, Kind: KindDuration, Default: FormatDuration(def), Min: FormatDuration(lo), Doc: doc}
}

// BoolSetting declares a boolean.
func BoolSetting(key string, def bool, doc string) Setting {
	return Setting{Key: key, Kind: KindBool, Default: strconv.FormatBool(def), Doc: doc}
}

// WithAliases returns s also read under older keys (deprecated: a warning is logged).
func (s Setting) WithAliases(keys ...string) Setting {
	s.Aliases = append(slices.Clip(s.Aliases), keys...)
	return s
}

// WithOneOf returns s accepting only these values (and unset).
func (s Setting) WithOneOf(values ...string) Setting {
	s.OneOf = append(slices.Clip(s.OneOf), values...)
	return s
}

// WithDoc returns s with note appended to its documentation (a host's remark, such as what
// `moa dev` sets).
func (s Setting) WithDoc(note string) Setting {
	s.Doc += note
	return s
}

// Constraint describes the accepted values in words ("an integer from 1 to 256"), Markdown
// code spans around literal values; "" when any string is.
func (s Setting) Constraint() string {
	switch s.Kind {
	case KindInt:
		return rangeText("an integer", s.Min, s.Max)
	case KindFloat:
		return rangeText("a number", s.Min, s.Max)
	case KindDuration:
		switch s.Min {
		case "", "0s":
		case "1ns":
			return "a positive Go duration"
		default:
			return "a Go duration of at least " + s.Min
		}
		return "a Go duration"
	case KindBool:
		return "true or false"
	case KindSecret, KindString:
		if len(s.OneOf) > 0 {
			return "one of `" + strings.Join(s.OneOf, "`, `") + "`"
		}
		if s.Min != "" {
			return "at least " + s.Min + " characters"
		}
	}
	return ""
}

func rangeText(what, lo, hi string) string {
	switch {
	case lo != "" && hi != "":
		return what + " from " + lo + " to " + hi
	case lo != "":
		return what + " of at least " + lo
	case hi != "":
		return what + " of at most " + hi
	}
	return what
}

// Declared reports whether key is one of settings' keys or aliases.
func Declared(settings []Setting, key string) bool {
	for _, s := range settings {
		if s.Key == key || slices.Contains(s.Aliases, key) {
			return true
		}
	}
	return false
}

// Check validates a list of declarations: keys upper-case and unique, kinds known, defaults
// inside their own bounds. Tests run it on every service's Settings.
func Check(settings []Setting) error {
	seen := map[string]bool{}
	for _, s := range settings {
		for _, k := range append([]string{s.Key}, s.Aliases...) {
			if k == "" || k != strings.ToUpper(k) || strings.ContainsAny(k, " -.") {
				return fmt.Errorf("setting %q: keys are upper-case words joined by _", k)
			}
			if seen[k] {
				return fmt.Errorf("setting %s declared twice", k)
			}
			seen[k] = true
		}
		if s.Doc == "" {
			return fmt.Errorf("setting %s has no documentation", s.Key)
		}
		if _, err := s.parse(s.Default); err != nil { // also refuses an unknown kind
			return fmt.Errorf("default of %w", err)
		}
	}
	return nil
}

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

// FormatDuration writes d the way people do: 2m, 24h, 1h30m, 500ms (not 2m0s, 24h0m0s).
func FormatDuration(d time.Duration) string {
	t := d.String()
	if strings.HasSuffix(t, "m0s") {
		t = strings.TrimSuffix(t, "0s")
	}
	if strings.HasSuffix(t, "h0m") {
		t = strings.TrimSuffix(t, "0m")
	}
	return t
}
