package gateway

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the gateway's counters, served as JSON (/metrics/socket) and
// in the Prometheus text format (/metrics).
type Metrics struct {
	TotalConnections  atomic.Int64 // sockets admitted since start
	ActiveConnections atomic.Int64
	FailedConnections atomic.Int64 // CONNECTs and handshakes refused (auth, ban, rate, origin, emergency, shutdown)
	MessagesSent      atomic.Int64 // message:send accepted
	MessagesRejected  atomic.Int64 // message:send refused
	EventsProcessed   atomic.Int64 // events answered ok
	EventsRejected    atomic.Int64 // events answered with an error
	MemoryCleanups    atomic.Int64 // cleanup runs

	mu        sync.Mutex
	closes    map[string]int64 // disconnect reason → count
	rejects   map[string]int64 // error code → count
	refusals  map[string]int64 // connect refusal → count
	cleanedUp map[string]int64 // cleanup kind → entries removed

	reg      *prometheus.Registry
	ackHist  *prometheus.HistogramVec
	breakers func() (trips int64)
}

func newMetrics() *Metrics {
	m := &Metrics{
		closes:    make(map[string]int64),
		rejects:   make(map[string]int64),
		refusals:  make(map[string]int64),
		cleanedUp: make(map[string]int64),
		reg:       prometheus.NewRegistry(),
	}
	m.ackHist = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gateway_ack_duration_seconds",
		Help:    "Time from an event's arrival to its ack, by event and outcome.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"event", "ok"})
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.ackHist,
		counter("gateway_connections_total", "Sockets admitted since start.", &m.TotalConnections),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_connections_active", Help: "Sockets connected now."},
			func() float64 { return float64(m.ActiveConnections.Load()) }),
		counter("gateway_connections_failed_total", "CONNECTs refused.", &m.FailedConnections),
		counter("gateway_messages_sent_total", "message:send accepted.", &m.MessagesSent),
		counter("gateway_messages_rejected_total", "message:send refused.", &m.MessagesRejected),
		counter("gateway_events_processed_total", "Events answered ok.", &m.EventsProcessed),
		counter("gateway_events_rejected_total", "Events answered with an error.", &m.EventsRejected),
		counter("gateway_memory_cleanups_total", "Cleanup runs.", &m.MemoryCleanups),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_circuit_breaker_trips_total", Help: "Circuit breaker openings."},
			func() float64 { return float64(m.breakerTrips()) }),
		&labelled{m: m, desc: prometheus.NewDesc("gateway_disconnects_total", "Disconnects by reason.", []string{"reason"}, nil), pick: func(m *Metrics) map[string]int64 { return m.closes }},
		&labelled{m: m, desc: prometheus.NewDesc("gateway_rejections_total", "Event errors by code.", []string{"code"}, nil), pick: func(m *Metrics) map[string]int64 { return m.rejects }},
		&labelled{m: m, desc: prometheus.NewDesc("gateway_connect_refusals_total", "CONNECT refusals by reason.", []string{"reason"}, nil), pick: func(m *Metrics) map[string]int64 { return m.refusals }},
		&labelled{m: m, desc: prometheus.NewDesc("gateway_cleanup_removed_total", "Stale entries removed by the cleanup, by kind.", []string{"kind"}, nil), pick: func(m *Metrics) map[string]int64 { return m.cleanedUp }},
	)
	return m
}

// registerSingle keeps the Redis counter of a single node at zero.
func (m *Metrics) registerSingle() {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_redis_reconnects_total",
		Help: "Redis reconnections of the adapter."}, func() float64 { return 0 }))
}

// registerRedis adds the cluster's Redis figures (REDIS_URL).
func (m *Metrics) registerRedis(health func() *RedisHealth) {
	gauge := func(name, help string, f func(h *RedisHealth) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(health()) })
	}
	state := func(s string) float64 {
		switch s {
		case "closed":
			return 0
		case "open":
			return 1
		}
		return 2
	}
	m.reg.MustRegister(
		gauge("gateway_redis_up", "1 while the Redis adapter is connected.", func(h *RedisHealth) float64 {
			if h.State == "connected" {
				return 1
			}
			return 0
		}),
		gauge("gateway_redis_queue_depth", "Cluster messages waiting for Redis.", func(h *RedisHealth) float64 { return float64(h.QueueDepth) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_redis_reconnects_total", Help: "Redis reconnections of the adapter."},
			func() float64 { return float64(health().Reconnects) }),
		gauge("gateway_redis_publish_breaker_state", "The adapter's publish breaker: 0 closed, 1 open, 2 half-open.",
			func(h *RedisHealth) float64 { return state(h.Breaker) }),
		gauge("gateway_redis_store_breaker_state", "The Redis stores' breaker: 0 closed, 1 open, 2 half-open.",
			func(h *RedisHealth) float64 { return state(h.Store) }),
		&redisDrops{health: health, desc: prometheus.NewDesc("gateway_redis_drops_total", "Cluster messages dropped, by reason.", []string{"reason"}, nil)},
	)
}

// redisDrops exports the adapter's drop counts.
type redisDrops struct {
	health func() *RedisHealth
	desc   *prometheus.Desc
}

func (d *redisDrops) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

func (d *redisDrops) Collect(ch chan<- prometheus.Metric) {
	drops := d.health().Drops
	keys := make([]string, 0, len(drops))
	for k := range drops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(drops[k]), k)
	}
}

func (m *Metrics) breakerTrips() int64 {
	if m.breakers == nil {
		return 0
	}
	return m.breakers()
}

func (m *Metrics) add(to map[string]int64, key string, n int64) {
	m.mu.Lock()
	to[key] += n
	m.mu.Unlock()
}

func (m *Metrics) closed(reason string)  { m.add(m.closes, reason, 1) }
func (m *Metrics) rejected(code string)  { m.add(m.rejects, code, 1) }
func (m *Metrics) refused(reason string) { m.FailedConnections.Add(1); m.add(m.refusals, reason, 1) }
func (m *Metrics) cleaned(kind string, n int) {
	if n > 0 {
		m.add(m.cleanedUp, kind, int64(n))
	}
}

func (m *Metrics) observeAck(event string, ok bool, d time.Duration) {
	label := "true"
	if !ok {
		label = "false"
	}
	m.ackHist.WithLabelValues(event, label).Observe(d.Seconds())
}

// Snapshot is the JSON of /metrics/socket.
func (m *Metrics) Snapshot() map[string]any {
	m.mu.Lock()
	cp := func(src map[string]int64) map[string]int64 {
		out := make(map[string]int64, len(src))
		for k, v := range src {
			out[k] = v
		}
		return out
	}
	closes, rejects, refusals, cleaned := cp(m.closes), cp(m.rejects), cp(m.refusals), cp(m.cleanedUp)
	m.mu.Unlock()
	return map[string]any{
		"totalConnections":    m.TotalConnections.Load(),
		"activeConnections":   m.ActiveConnections.Load(),
		"failedConnections":   m.FailedConnections.Load(),
		"messagesSent":        m.MessagesSent.Load(),
		"messagesRejected":    m.MessagesRejected.Load(),
		"eventsProcessed":     m.EventsProcessed.Load(),
		"eventsRejected":      m.EventsRejected.Load(),
		"circuitBreakerTrips": m.breakerTrips(),
		"memoryCleanups":      m.MemoryCleanups.Load(),
		"redisReconnects":     0,
		"closeReasons":        closes,
		"rejections":          rejects,
		"connectRefusals":     refusals,
		"cleanupRemoved":      cleaned,
	}
}

// labelled exports one of the counter maps as a labelled counter.
type labelled struct {
	m    *Metrics
	desc *prometheus.Desc
	pick func(*Metrics) map[string]int64
}

func (l *labelled) Describe(ch chan<- *prometheus.Desc) { ch <- l.desc }

func (l *labelled) Collect(ch chan<- prometheus.Metric) {
	l.m.mu.Lock()
	src := l.pick(l.m)
	keys := make([]string, 0, len(src))
	for k := range src {
		keys = append(keys, k)
	}
	vals := make([]int64, len(keys))
	sort.Strings(keys)
	for i, k := range keys {
		vals[i] = src[k]
	}
	l.m.mu.Unlock()
	for i, k := range keys {
		ch <- prometheus.MustNewConstMetric(l.desc, prometheus.CounterValue, float64(vals[i]), k)
	}
}
