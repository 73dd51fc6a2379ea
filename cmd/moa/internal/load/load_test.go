package load_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/moa-run/moa/cmd/moa/internal/load"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system/systemtest"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// A short run at a low rate against the whole system booted in the test: the report has a row
// for every operation, each measured at least once, and nothing failed.
func TestLoadDrivesEveryOperationWithoutErrors(t *testing.T) {
	sys := systemtest.Boot(t, systemtest.LogLevel(slog.LevelWarn))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mix, err := load.ParseMix("signup=2,login=2,browse=2,page=2,search=2,product=2,view=2,subscribe=2,chat=2")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := load.Run(ctx, load.Config{
		URL: sys.HTTPURL(), Mix: mix, Rate: 15, MaxRate: 15, Step: 1,
		Stage: 3 * time.Second, Duration: 3 * time.Second, Users: 6, P99: 10 * time.Second, Products: 16,
	}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if len(res.Stages) != 1 {
		t.Fatalf("%d stages, want 1", len(res.Stages))
	}
	st := res.Stages[0]
	seen := map[string]bool{}
	for _, o := range st.Ops {
		seen[o.Name] = true
		if o.N == 0 {
			t.Errorf("%s: no sample", o.Name)
		}
		if e := o.ErrorCount(); e > 0 {
			t.Errorf("%s: errors %v", o.Name, o.Errors)
		}
		if !strings.Contains(out.String(), "\n"+o.Name+" ") {
			t.Errorf("the report has no row for %s", o.Name)
		}
	}
	for _, op := range load.Operations {
		if !seen[op] {
			t.Errorf("no result for %s", op)
		}
	}
	if !st.Holds || res.Best != 0 {
		t.Errorf("the stage does not hold (%s)", st.Why)
	}
}
