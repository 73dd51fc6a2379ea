package deploy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/moatest"
)

// metricSum sums the series of the family name whose labels include want; an error when
// there is none.
func metricSum(reg prometheus.Gatherer, name string, want map[string]string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	var sum float64
	found := false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue next
				}
			}
			found = true
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	if !found {
		return 0, fmt.Errorf("no series %s%v", name, want)
	}
	return sum, nil
}

// businessMetrics checks the business figures after marketplaceFlow, chatFlow and sagaFlow:
// one saga started, activated and cancelled by its consumer, the product's price charged in its
// currency and part of it refunded, chat messages stored, and the database pools and the
// consumers' backlog reported. The counters move after the commit the flows wait for, so they
// are polled.
func businessMetrics(t *testing.T, reg prometheus.Gatherer, m market) {
	t.Helper()
	type want struct {
		name   string
		labels map[string]string
		ok     func(float64) bool
		what   string
	}
	eq := func(n float64) func(float64) bool { return func(v float64) bool { return v == n } }
	positive := func(v float64) bool { return v > 0 }
	cur := map[string]string{"currency": m.Product.Currency}
	for _, w := range []want{
		{"moa_subscriptions_started_total", nil, eq(1), "1"},
		{"moa_subscriptions_activated_total", nil, eq(1), "1"},
		{"moa_subscriptions_cancelled_total", map[string]string{"reason": "by_consumer"}, eq(1), "1"},
		{"moa_revenue_minor_total", cur, eq(float64(m.Product.PriceAmount)), fmt.Sprint(m.Product.PriceAmount)},
		{"moa_refunds_minor_total", cur, positive, "> 0"},
		{"moa_payments_total", map[string]string{"step": "charge", "status": "SUCCEEDED"}, eq(1), "1"},
		{"moa_chat_messages_total", nil, positive, "> 0"},
		{"moa_db_pool_acquires_total", map[string]string{"service": "subscription"}, positive, "> 0"},
		// Read by the services' own NATS users: their permissions allow the consumer info.
		{"moa_consumer_pending_messages", map[string]string{"consumer": "subscription_saga_billing"}, func(v float64) bool { return v == 0 }, "0 once the saga ended"},
	} {
		moatest.WaitFor(t, 20*time.Second, func() error {
			v, err := metricSum(reg, w.name, w.labels)
			if err != nil {
				return err
			}
			if !w.ok(v) {
				return fmt.Errorf("%s%v = %v, want %s", w.name, w.labels, v, w.what)
			}
			return nil
		})
	}
}
