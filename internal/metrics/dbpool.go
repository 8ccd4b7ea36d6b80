package metrics

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PoolStats is a snapshot of the store's connection pools, in plain numbers. Its fields are those
// of store.PoolStats, in the same order and of the same types, so the caller converts one into
// the other with metrics.PoolStats(st) and this package need not import the store.
type PoolStats struct {
	Dialect string // "postgres" or "sqlite"; anything else is labelled "other"

	// database/sql's view, summed over the store's handles.
	OpenConnections int
	InUse           int
	Idle            int
	WaitCount       int64
	WaitDuration    time.Duration

	// pgxpool's view; all zero for SQLite, and then not exported.
	MaxConns             int32
	TotalConns           int32
	AcquiredConns        int32
	IdleConns            int32
	AcquireCount         int64
	AcquireDuration      time.Duration
	EmptyAcquireCount    int64
	CanceledAcquireCount int64
}

var dialects = newLabelSet("postgres", "sqlite")

// RegisterDBPool makes every scrape call stats and export what it returns as idp_db_* metrics.
// stats runs at scrape time, possibly concurrently with itself, so it must be cheap and safe for
// concurrent use (sql.DB.Stats and pgxpool.Pool.Stat are). A later call replaces the func; nil
// removes it.
func (m *Metrics) RegisterDBPool(stats func() PoolStats) {
	if m == nil {
		return
	}
	if stats == nil {
		m.pool.stats.Store(nil)
		return
	}
	m.pool.stats.Store(&stats)
}

// poolCollector is registered by New and reports nothing until RegisterDBPool gives it a func:
// registering once with fixed descriptors keeps the registry's consistency checks and makes a
// second RegisterDBPool harmless.
type poolCollector struct {
	stats atomic.Pointer[func() PoolStats]
}

func dbDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "db", name), help, labels, nil)
}

var (
	descDBInfo = dbDesc("info", "The store's database; the value is always 1.", "dialect")

	descOpen      = dbDesc("open_connections", "database/sql: established connections, in use and idle.")
	descInUse     = dbDesc("in_use_connections", "database/sql: connections in use.")
	descIdle      = dbDesc("idle_connections", "database/sql: idle connections (0 with PostgreSQL, where pgxpool pools).")
	descWaitCount = dbDesc("wait_count_total", "database/sql: connections waited for.")
	descWaitDur   = dbDesc("wait_duration_seconds_total", "database/sql: total time blocked waiting for a connection.")

	descPoolMax      = dbDesc("pool_max_conns", "pgxpool: maximum size of the pool.")
	descPoolTotal    = dbDesc("pool_total_conns", "pgxpool: connections in the pool (constructing, acquired and idle).")
	descPoolAcquired = dbDesc("pool_acquired_conns", "pgxpool: connections acquired now.")
	descPoolIdle     = dbDesc("pool_idle_conns", "pgxpool: idle connections.")
	descPoolAcq      = dbDesc("pool_acquires_total", "pgxpool: successful acquires.")
	descPoolAcqDur   = dbDesc("pool_acquire_duration_seconds_total", "pgxpool: total time spent in successful acquires.")
	descPoolEmpty    = dbDesc("pool_empty_acquires_total", "pgxpool: successful acquires that waited for a connection because the pool was empty.")
	descPoolCanceled = dbDesc("pool_canceled_acquires_total", "pgxpool: acquires canceled by their context.")
)

var poolDescs = []*prometheus.Desc{
	descDBInfo, descOpen, descInUse, descIdle, descWaitCount, descWaitDur,
	descPoolMax, descPoolTotal, descPoolAcquired, descPoolIdle, descPoolAcq, descPoolAcqDur, descPoolEmpty, descPoolCanceled,
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range poolDescs {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.stats.Load()
	if f == nil {
		return
	}
	st, err := callStats(*f)
	if err != nil {
		// The registry does not recover a collector's panic; a broken stats func must cost
		// the DB metrics of this scrape, not the process.
		ch <- prometheus.NewInvalidMetric(descDBInfo, err)
		return
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	ch <- prometheus.MustNewConstMetric(descDBInfo, prometheus.GaugeValue, 1, dialects.of(st.Dialect))
	gauge(descOpen, float64(st.OpenConnections))
	gauge(descInUse, float64(st.InUse))
	gauge(descIdle, float64(st.Idle))
	counter(descWaitCount, float64(st.WaitCount))
	counter(descWaitDur, st.WaitDuration.Seconds())
	// A pgxpool always has MaxConns ≥ 1; zero means there is no pgxpool (SQLite), and exporting
	// zeros would look like an empty pool.
	if st.MaxConns > 0 {
		gauge(descPoolMax, float64(st.MaxConns))
		gauge(descPoolTotal, float64(st.TotalConns))
		gauge(descPoolAcquired, float64(st.AcquiredConns))
		gauge(descPoolIdle, float64(st.IdleConns))
		counter(descPoolAcq, float64(st.AcquireCount))
		counter(descPoolAcqDur, st.AcquireDuration.Seconds())
		counter(descPoolEmpty, float64(st.EmptyAcquireCount))
		counter(descPoolCanceled, float64(st.CanceledAcquireCount))
	}
}

// callStats calls f, turning a panic into an error.
func callStats(f func() PoolStats) (st PoolStats, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("metrics: DB pool stats func panicked: %v", p)
		}
	}()
	return f(), nil
}
