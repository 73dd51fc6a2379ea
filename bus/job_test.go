package bus_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/moatest"
)

// A job runs when woken, not only at its ticks, and Stop waits for the run in progress.
func TestJobRunsWhenWokenAndStopWaits(t *testing.T) {
	var runs atomic.Int64
	var ended atomic.Bool
	j := bus.Every("test job", time.Hour, func(ctx context.Context) error {
		if runs.Add(1) == 2 {
			<-ctx.Done() // the second run lasts until Stop
			ended.Store(true)
		}
		return nil
	})
	j.Wake() // a wake before Start is kept
	j.Start(t.Context(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	moatest.Eventually(t, 5*time.Second, func() bool { return runs.Load() == 1 }, "the early wake ran the job")
	j.Wake()
	moatest.Eventually(t, 5*time.Second, func() bool { return runs.Load() == 2 }, "the wake ran the job again")
	if err := j.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !ended.Load() {
		t.Fatal("Stop returned before the run in progress ended")
	}
}
