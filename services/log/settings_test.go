package log_test

import (
	"slices"
	"testing"

	logsvc "github.com/moa-run/moa/services/log"
)

func TestParseThresholds(t *testing.T) {
	got, err := logsvc.ParseThresholds(" 1000, 100 ,10000")
	if err != nil || !slices.Equal(got, []int64{100, 1000, 10000}) {
		t.Fatalf("%v, %v", got, err)
	}
	if got, err := logsvc.ParseThresholds(""); err != nil || len(got) != 0 {
		t.Fatalf("none: %v, %v", got, err)
	}
	for _, bad := range []string{"0", "-5", "ten", "100,100", "1e3"} {
		if _, err := logsvc.ParseThresholds(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}
