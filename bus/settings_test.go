package bus

import (
	"math"
	"strings"
	"testing"
	"time"
)

var (
	testN     = IntSetting("N", 3, 1, 10, "n")
	testBad   = IntSetting("BAD", 1, 1, 10, "bad")
	testBig   = IntSetting("BIG", 1, 1, 10, "big")
	testOpen  = IntSetting("OPEN", 1, 1, math.MaxInt, "open")
	testD     = DurationSetting("D", time.Second, time.Millisecond, "d")
	testNeg   = DurationSetting("NEG", 2*time.Minute, 0, "neg")
	testRate  = FloatSetting("RATE", 0, 0, 1, "rate")
	testFlag  = BoolSetting("FLAG", false, "flag")
	testMode  = StringSetting("MODE", "sim", "mode").WithOneOf("sim")
	testPass  = SecretSetting("PASS", 4, "pass")
	testNew   = IntSetting("NEW_NAME", 8, 1, 256, "renamed").WithAliases("OLD_NAME")
	testUnset = IntSetting("UNSET", 3, 1, 10, "unset")
	testAll   = []Setting{testN, testBad, testBig, testOpen, testD, testNeg, testRate, testFlag, testMode, testPass, testNew, testUnset}
)

func testEnv(values map[string]string) Env {
	return Env{Setting: func(k string) string { return values[k] }, Declared: testAll}
}

func TestEnvSettings(t *testing.T) {
	env := testEnv(map[string]string{"N": " 7 ", "BAD": "x", "BIG": "99", "OPEN": "x", "D": "2s", "NEG": "-1s",
		"RATE": "0.25", "FLAG": "true", "MODE": "real", "PASS": "abc", "OLD_NAME": "16"})
	if n, err := env.Int(testN); n != 7 || err != nil {
		t.Fatalf("N: %d %v", n, err)
	}
	if n, err := env.Int(testUnset); n != 3 || err != nil {
		t.Fatalf("default: %d %v", n, err)
	}
	for _, s := range []Setting{testBad, testBig} {
		if _, err := env.Int(s); err == nil || !strings.Contains(err.Error(), s.Key) || !strings.Contains(err.Error(), "from 1 to 10") {
			t.Fatalf("%s: %v", s.Key, err)
		}
	}
	if _, err := env.Int(testOpen); err == nil || !strings.Contains(err.Error(), "at least 1") {
		t.Fatalf("unbounded: %v", err)
	}
	if d, err := env.Duration(testD); d != 2*time.Second || err != nil {
		t.Fatalf("D: %v %v", d, err)
	}
	if _, err := env.Duration(testNeg); err == nil {
		t.Fatal("negative duration accepted")
	}
	if r, err := env.Float(testRate); r != 0.25 || err != nil {
		t.Fatalf("RATE: %v %v", r, err)
	}
	if b, err := env.Bool(testFlag); !b || err != nil {
		t.Fatalf("FLAG: %v %v", b, err)
	}
	if _, err := env.String(testMode); err == nil || !strings.Contains(err.Error(), "want one of sim") {
		t.Fatalf("MODE: %v", err)
	}
	if _, err := env.String(testPass); err == nil || strings.Contains(err.Error(), "abc") || !strings.Contains(err.Error(), "at least 4 characters") {
		t.Fatalf("PASS: %v (a secret's value must not be in the error)", err)
	}
	if n, err := env.Int(testNew); n != 16 || err != nil {
		t.Fatalf("alias: %d %v", n, err)
	}
	if _, err := env.Duration(testN); err == nil {
		t.Fatal("an int setting read as a duration")
	}
	if n, err := (Env{}).Int(testN); n != 3 || err != nil {
		t.Fatalf("nil Setting must read as unset: %d %v", n, err)
	}
}

// A service reading a setting its Settings does not declare fails, so that `moa help`, the
// README and the code cannot drift apart.
func TestEnvRefusesUndeclaredSetting(t *testing.T) {
	env := testEnv(map[string]string{"SECRET_KNOB": "5"})
	_, err := env.Int(IntSetting("SECRET_KNOB", 1, 1, 10, "not in the list"))
	if err == nil || !strings.Contains(err.Error(), "SECRET_KNOB is read but not declared") {
		t.Fatalf("undeclared read: %v", err)
	}
}

func TestSettingDeclarations(t *testing.T) {
	if err := Check(testAll); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]Setting{
		{testN, testN},
		{IntSetting("lower", 1, 1, 2, "x")},
		{IntSetting("OUT", 5, 1, 2, "default out of bounds")},
		{{Key: "ODD", Kind: "colour", Doc: "x"}},
		{IntSetting("NODOC", 1, 1, 2, "")},
		{testNew, IntSetting("OLD_NAME", 1, 1, 2, "alias taken")},
	} {
		if err := Check(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	for d, want := range map[time.Duration]string{2 * time.Minute: "2m", 24 * time.Hour: "24h", 90 * time.Minute: "1h30m",
		0: "0s", 500 * time.Millisecond: "500ms", 30 * time.Second: "30s", 720 * time.Hour: "720h"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %s, want %s", d, got, want)
		}
	}
	if c := testOpen.Constraint(); c != "an integer of at least 1" {
		t.Errorf("constraint %q", c)
	}
}
