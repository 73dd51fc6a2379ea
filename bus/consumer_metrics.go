package bus

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// lagInfoWait bounds the whole consumer-info round of one scrape: a JetStream API that does
// not answer costs the scrape this much, not the scraper's timeout.
const lagInfoWait = 2 * time.Second

// lagCollector reports each durable consumer's backlog as the server sees it, read on every
// scrape (a JetStream consumer-info request per consumer). One collector serves every runtime
// registered on a registry (moa dev gives each service its own runtime on one registry); a
// durable that several runtimes consume (instances of a service in one process) is reported
// once, since the server's figures are the durable's, not an instance's.
type lagCollector struct {
	pending, ackPending, redelivered *prometheus.Desc

	mu       sync.Mutex
	runtimes map[*Runtime]struct{}
}

func newLagCollector() *lagCollector {
	labels := []string{"stream", "consumer"}
	return &lagCollector{
		pending: prometheus.NewDesc("moa_consumer_pending_messages",
			"Messages of the consumer's stream not yet delivered to it (its lag), as its server reports.", labels, nil),
		ackPending: prometheus.NewDesc("moa_consumer_ack_pending_messages",
			"Messages delivered to the consumer and not yet acknowledged.", labels, nil),
		redelivered: prometheus.NewDesc("moa_consumer_redelivered_messages",
			"Messages delivered to the consumer more than once and still unacknowledged.", labels, nil),
		runtimes: map[*Runtime]struct{}{},
	}
}

func (l *lagCollector) add(r *Runtime)    { l.mu.Lock(); l.runtimes[r] = struct{}{}; l.mu.Unlock() }
func (l *lagCollector) remove(r *Runtime) { l.mu.Lock(); delete(l.runtimes, r); l.mu.Unlock() }

func (l *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- l.pending
	ch <- l.ackPending
	ch <- l.redelivered
}

func (l *lagCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ stream, durable string }
	l.mu.Lock()
	var cs []*Consumer
	for r := range l.runtimes {
		r.mu.Lock()
		cs = append(cs, r.consumers...)
		r.mu.Unlock()
	}
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), lagInfoWait)
	defer cancel()
	seen := map[key]bool{}
	for _, c := range cs {
		k := key{c.spec.Stream.Name, c.spec.Durable}
		if seen[k] || c.stopped() {
			continue
		}
		jc, err := c.rt.js.Consumer(ctx, k.stream, k.durable)
		if err != nil {
			// Unknown is not zero: a missing series is what an alert on absent() sees.
			continue
		}
		seen[k] = true
		info := jc.CachedInfo()
		ch <- prometheus.MustNewConstMetric(l.pending, prometheus.GaugeValue, float64(info.NumPending), k.stream, k.durable)
		ch <- prometheus.MustNewConstMetric(l.ackPending, prometheus.GaugeValue, float64(info.NumAckPending), k.stream, k.durable)
		ch <- prometheus.MustNewConstMetric(l.redelivered, prometheus.GaugeValue, float64(info.NumRedelivered), k.stream, k.durable)
	}
}
