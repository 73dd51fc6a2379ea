package bus

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestEnvSettings(t *testing.T) {
	env := Env{Setting: func(k string) string {
		return map[string]string{"N": " 7 ", "BAD": "x", "BIG": "99", "D": "2s", "NEG": "-1s"}[k]
	}}
	if n, err := env.Int("N", 1, 1, 10); n != 7 || err != nil {
		t.Fatalf("N: %d %v", n, err)
	}
	if n, err := env.Int("UNSET", 3, 1, 10); n != 3 || err != nil {
		t.Fatalf("default: %d %v", n, err)
	}
	for _, k := range []string{"BAD", "BIG"} {
		if _, err := env.Int(k, 1, 1, 10); err == nil || !strings.Contains(err.Error(), k) {
			t.Fatalf("%s: %v", k, err)
		}
	}
	if _, err := env.Int("BAD", 1, 1, math.MaxInt); err == nil || !strings.Contains(err.Error(), "at least 1") {
		t.Fatalf("unbounded: %v", err)
	}
	if d, err := env.Duration("D", time.Second, time.Millisecond); d != 2*time.Second || err != nil {
		t.Fatalf("D: %v %v", d, err)
	}
	if _, err := env.Duration("NEG", time.Second, 0); err == nil {
		t.Fatal("negative duration accepted")
	}
	if (Env{}).Get("X") != "" {
		t.Fatal("nil Setting must read as unset")
	}
}
