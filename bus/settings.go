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
