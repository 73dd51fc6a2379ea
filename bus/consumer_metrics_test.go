package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// seriesSum sums the series of family name whose consumer label is consumer.
func seriesSum(t *testing.T, rt *bus.Runtime, name, consumer string) (float64, bool) {
	t.Helper()
	mfs, err := rt.Registry().(prometheus.Gatherer).Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	found := false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "consumer" && lp.GetValue() == consumer {
					found = true
					sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum, found
}

// The consumer's backlog is what the server reports for the durable, read on scrape: the
// messages a stuck handler holds show as unacknowledged and the rest as pending. When that
// instance dies, what it held comes again to the next instance after AckWait, which counts
// them as redeliveries and, once it handled everything, reports no backlog.
func TestConsumerLagAndRedeliveries(t *testing.T) {
	srv := moatest.NATS(t)
	nc := srv.Conn(t)
	first := mbRuntimeOn(t, nc)
	const n = 5
	for i := range n {
		mbEmit(t, first, "k", i)
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	blocked := bus.OnEvent(mbEvent, func(ctx context.Context, _ bus.Event[mbData]) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	spec := contracts.ConsumerSpec{Stream: mbStream, Durable: "lagging", AckWait: time.Second}
	_, err := first.Consume(mbCtx(t), "test", spec, blocked, bus.WithMaxAckPending(2))
	if err != nil {
		t.Fatal(err)
	}
	moatest.WaitFor(t, 20*time.Second, func() error {
		pending, ok := seriesSum(t, first, "moa_consumer_pending_messages", "lagging")
		unacked, _ := seriesSum(t, first, "moa_consumer_ack_pending_messages", "lagging")
		if !ok || pending != n-2 || unacked != 2 {
			return fmt.Errorf("pending %v (reported %v), unacked %v: want %d and 2", pending, ok, unacked, n-2)
		}
		return nil
	})
	// The instance dies with its handler stuck: its connection is gone, nothing is acked.
	nc.Close()

	second := mbRuntimeOn(t, srv.Conn(t))
	handled := make(chan int, n)
	ok := bus.OnEvent(mbEvent, func(_ context.Context, e bus.Event[mbData]) error { handled <- e.Data.N; return nil })
	if _, err := second.Consume(mbCtx(t), "test", spec, ok); err != nil {
		t.Fatal(err)
	}
	moatest.WaitFor(t, 20*time.Second, func() error {
		redelivered, _ := seriesSum(t, second, "moa_redeliveries_total", "lagging")
		pending, _ := seriesSum(t, second, "moa_consumer_pending_messages", "lagging")
		unacked, _ := seriesSum(t, second, "moa_consumer_ack_pending_messages", "lagging")
		if redelivered < 1 || pending != 0 || unacked != 0 {
			return fmt.Errorf("redeliveries %v, pending %v, unacked %v: want some, then no backlog", redelivered, pending, unacked)
		}
		return nil
	})
	for range n {
		<-handled
	}
}
