package host

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector reports a service's PostgreSQL pool from pgxpool's own statistics, read on
// each scrape. Acquires are the service's database round trips as far as the pool sees them
// (one per query outside a transaction, one per transaction), empty acquires the ones that had
// to wait for a connection.
type poolCollector struct {
	pool                                                *pgxpool.Pool
	acquires, emptyAcquires, acquireWait, canceled      *prometheus.Desc
	conns, maxConns, newConns, lifetimeClosed, idleGone *prometheus.Desc
}

func newPoolCollector(service string, pool *pgxpool.Pool) *poolCollector {
	l := prometheus.Labels{"service": service}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("moa_db_pool_"+name, help, labels, l)
	}
	return &poolCollector{
		pool:           pool,
		acquires:       d("acquires_total", "Connections taken from the service's PostgreSQL pool."),
		emptyAcquires:  d("empty_acquires_total", "Acquires that found no idle connection and waited for one (opened or released)."),
		acquireWait:    d("acquire_wait_seconds_total", "Time spent acquiring connections, in all."),
		canceled:       d("canceled_acquires_total", "Acquires abandoned because their context ended first."),
		conns:          d("connections", "Pool connections by state (idle|in_use|constructing).", "state"),
		maxConns:       d("max_connections", "The pool's connection bound."),
		newConns:       d("opened_connections_total", "Connections the pool opened."),
		lifetimeClosed: d("lifetime_closed_total", "Connections closed for reaching their maximum lifetime."),
		idleGone:       d("idle_closed_total", "Connections closed for idling too long."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquires, c.emptyAcquires, c.acquireWait, c.canceled, c.conns, c.maxConns, c.newConns, c.lifetimeClosed, c.idleGone} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	counter(c.acquires, float64(s.AcquireCount()))
	counter(c.emptyAcquires, float64(s.EmptyAcquireCount()))
	counter(c.acquireWait, s.AcquireDuration().Seconds())
	counter(c.canceled, float64(s.CanceledAcquireCount()))
	counter(c.newConns, float64(s.NewConnsCount()))
	counter(c.lifetimeClosed, float64(s.MaxLifetimeDestroyCount()))
	counter(c.idleGone, float64(s.MaxIdleDestroyCount()))
	gauge(c.conns, float64(s.IdleConns()), "idle")
	gauge(c.conns, float64(s.AcquiredConns()), "in_use")
	gauge(c.conns, float64(s.ConstructingConns()), "constructing")
	gauge(c.maxConns, float64(s.MaxConns()))
}
