package bus_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/bus"
)

// counterValue sums every series of a counter family in the runtime's registry.
func counterValue(t *testing.T, rt *bus.Runtime, name string) float64 {
	t.Helper()
	g, ok := rt.Registry().(prometheus.Gatherer)
	if !ok {
		t.Fatal("registry is not a gatherer")
	}
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			}
		}
	}
	return sum
}
