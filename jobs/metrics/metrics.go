// Package metrics exposes vidgate's Prometheus metrics. Names follow the
// Prometheus conventions (vidgate_ prefix, _total counters, _seconds and
// _bytes units); no label takes unbounded values — never a job id.
package metrics

import (
	"context"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/queue"
	"github.com/vidgate/vidgate/providers"
)

// Metrics holds one process's metrics.
type Metrics struct {
	reg            *prometheus.Registry
	jobsCreated    *prometheus.CounterVec
	transitions    *prometheus.CounterVec
	toCompleted    *prometheus.HistogramVec
	toReview       *prometheus.HistogramVec
	providerCalls  *prometheus.HistogramVec
	providerErrors *prometheus.CounterVec
	webhooks       *prometheus.CounterVec
	artifactBytes  *prometheus.CounterVec
	httpRequests   *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec
	gqlOps         *prometheus.CounterVec
	gqlDuration    *prometheus.HistogramVec
	opNames        boundedNames
}

// New returns a fresh set of metrics, with Go runtime and process metrics.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.jobsCreated = m.counter("vidgate_jobs_created_total", "Jobs created.", "provider", "workflow")
	m.transitions = m.counter("vidgate_job_transitions_total", "Committed job changes, by the status they led to.", "provider", "workflow", "status")
	m.toCompleted = m.histogram("vidgate_job_queued_to_completed_seconds", "Time from QUEUED to COMPLETED.",
		[]float64{1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}, "provider", "workflow")
	m.toReview = m.histogram("vidgate_job_completed_to_reviewed_seconds", "Time from COMPLETED to a review decision.",
		[]float64{60, 300, 900, 3600, 4 * 3600, 24 * 3600, 72 * 3600}, "decision")
	m.providerCalls = m.histogram("vidgate_provider_call_duration_seconds", "Provider API calls, by outcome code (ok on success).",
		[]float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30}, "provider", "op", "code")
	m.providerErrors = m.counter("vidgate_provider_errors_total", "Failed provider API calls, by portable error code.", "provider", "op", "code")
	m.webhooks = m.counter("vidgate_webhook_receipts_total", "Webhook deliveries, by outcome (applied, duplicate, stale, unknown_job, rejected).", "provider", "outcome")
	m.artifactBytes = m.counter("vidgate_artifact_stored_bytes_total", "Bytes of provider output stored in the bucket.", "kind")
	m.httpRequests = m.counter("vidgate_http_requests_total", "HTTP requests served, by route pattern, method and status code.", "route", "method", "code")
	m.httpDuration = m.histogram("vidgate_http_request_duration_seconds", "Time to serve an HTTP request (to the end of the response; WebSocket and event-stream upgrades excluded).",
		[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "route", "method")
	m.gqlOps = m.counter("vidgate_graphql_operations_total", "GraphQL queries and mutations executed, by operation name (the first "+strconv.Itoa(maxOperationNames)+" names seen; later ones as \"other\"), type and outcome (ok, or error when the response carries errors).", "operation", "type", "outcome")
	m.gqlDuration = m.histogram("vidgate_graphql_operation_duration_seconds", "Time to execute a GraphQL query or mutation, by operation name and type.",
		[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "operation", "type")
	m.reg.MustRegister(buildInfo())
	m.Known()
	return m
}

// Known creates, at zero, every series whose label values are known in
// advance — for the providers named and the workflows, statuses, outcomes
// and codes vidgate has — so that a rate or an absence alert works from
// the first scrape rather than from a series' first event. Call it again
// with the configured providers once they are known.
func (m *Metrics) Known(providerNames ...string) {
	workflows := []string{string(jobs.TextToVideo), string(jobs.ImageToVideo)}
	ops := []string{"submit", "status", "cancel"}
	for _, p := range providerNames {
		for _, wf := range workflows {
			m.jobsCreated.WithLabelValues(p, wf)
			for _, st := range jobs.Statuses {
				m.transitions.WithLabelValues(p, wf, string(st))
			}
		}
		for _, o := range WebhookOutcomes {
			m.webhooks.WithLabelValues(p, o)
		}
		for _, op := range ops {
			for _, c := range providers.Codes {
				m.providerErrors.WithLabelValues(p, op, string(c))
			}
		}
	}
	for _, d := range []jobs.Status{jobs.StatusApproved, jobs.StatusRejected} {
		m.toReview.WithLabelValues(string(d))
	}
	m.artifactBytes.WithLabelValues(string(jobs.ArtifactVideo))
}

// WebhookOutcomes are the outcomes Webhook counts.
var WebhookOutcomes = []string{"applied", "duplicate", "stale", "unknown_job", "rejected"}

// buildInfo is vidgate_build_info: 1, labelled with the module version, the
// VCS revision and the Go version the binary was built with.
func buildInfo() prometheus.Collector {
	version, revision := "(devel)", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "vidgate_build_info",
		Help:        "Always 1; its labels say which vidgate build this process runs.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()}})
	g.Set(1)
	return g
}

// maxOperationNames bounds the operation label of the GraphQL metrics:
// names are chosen by clients, so only the first ones seen get a series.
const maxOperationNames = 100

// boundedNames admits the first maxOperationNames distinct names.
type boundedNames struct {
	mu    sync.Mutex
	names map[string]struct{}
}

func (b *boundedNames) label(name string) string {
	if name == "" {
		return "anonymous"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.names[name]; ok {
		return name
	}
	if len(b.names) >= maxOperationNames || len(name) > 100 {
		return "other"
	}
	if b.names == nil {
		b.names = map[string]struct{}{}
	}
	b.names[name] = struct{}{}
	return name
}

// HTTPRequest records one HTTP request: route is the pattern that served
// it (never the raw path), code its status.
func (m *Metrics) HTTPRequest(route, method string, code int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// GraphQLOperation records one executed query or mutation: name is the
// client's operation name ("" when anonymous), typ "query" or "mutation",
// errors how many errors the response carried.
func (m *Metrics) GraphQLOperation(name, typ string, errors int, d time.Duration) {
	op := m.opNames.label(name)
	outcome := "ok"
	if errors > 0 {
		outcome = "error"
	}
	m.gqlOps.WithLabelValues(op, typ, outcome).Inc()
	m.gqlDuration.WithLabelValues(op, typ).Observe(d.Seconds())
}

func (m *Metrics) counter(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.reg.MustRegister(c)
	return c
}

func (m *Metrics) histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	m.reg.MustRegister(h)
	return h
}

// Handler serves the metrics (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// OnCommit counts committed job changes; register it with Store.OnCommit.
func (m *Metrics) OnCommit(_ context.Context, changes []jobs.Change) {
	for _, c := range changes {
		j := c.Job
		wf := string(j.WorkflowType)
		if c.From == nil {
			m.jobsCreated.WithLabelValues(j.Provider, wf).Inc()
		}
		if c.From != nil && *c.From == j.Status {
			continue // progress and other same-status updates
		}
		m.transitions.WithLabelValues(j.Provider, wf, string(j.Status)).Inc()
		switch j.Status {
		case jobs.StatusCompleted:
			if j.CompletedAt != nil {
				m.toCompleted.WithLabelValues(j.Provider, wf).Observe(j.CompletedAt.Sub(j.CreatedAt).Seconds())
			}
		case jobs.StatusApproved, jobs.StatusRejected:
			if j.ReviewedAt != nil && j.CompletedAt != nil {
				m.toReview.WithLabelValues(string(j.Status)).Observe(j.ReviewedAt.Sub(*j.CompletedAt).Seconds())
			}
		}
	}
}

// Webhook counts a webhook delivery's outcome.
func (m *Metrics) Webhook(provider, outcome string) {
	m.webhooks.WithLabelValues(provider, outcome).Inc()
}

// ArtifactStored counts bytes copied into the bucket.
func (m *Metrics) ArtifactStored(kind string, bytes int64) {
	m.artifactBytes.WithLabelValues(kind).Add(float64(bytes))
}

// observe records one provider call.
func (m *Metrics) observe(provider, op string, start time.Time, err error) {
	code := "ok"
	if err != nil {
		code = string(providers.ErrorCode(err))
		m.providerErrors.WithLabelValues(provider, op, code).Inc()
	}
	m.providerCalls.WithLabelValues(provider, op, code).Observe(time.Since(start).Seconds())
}

// Gauges read on every scrape, from the queue, the store and the transport.

// WatchQueue reports stream length, pending entries, oldest pending age,
// dead letters and scheduled retries per task kind.
func (m *Metrics) WatchQueue(q *queue.Queue) {
	m.reg.MustRegister(&queueCollector{q: q,
		length:  prometheus.NewDesc("vidgate_queue_length", "Entries waiting in a task stream.", []string{"kind"}, nil),
		pending: prometheus.NewDesc("vidgate_queue_pending", "Entries delivered and not yet acknowledged.", []string{"kind"}, nil),
		oldest:  prometheus.NewDesc("vidgate_queue_oldest_pending_age_seconds", "Age of the oldest unacknowledged entry.", []string{"kind"}, nil),
		dead:    prometheus.NewDesc("vidgate_queue_dead_letters", "Entries in the dead-letter stream.", []string{"kind"}, nil),
		sched:   prometheus.NewDesc("vidgate_queue_scheduled", "Retries scheduled for later.", []string{"kind"}, nil),
	})
}

type queueCollector struct {
	q                                    *queue.Queue
	length, pending, oldest, dead, sched *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.length
	ch <- c.pending
	ch <- c.oldest
	ch <- c.dead
	ch <- c.sched
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stats, err := c.q.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.length, err)
		return
	}
	for kind, s := range stats {
		k := string(kind)
		ch <- prometheus.MustNewConstMetric(c.length, prometheus.GaugeValue, float64(s.Length), k)
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.Pending), k)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, s.OldestPendingAge.Seconds(), k)
		ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(s.DeadLetters), k)
		ch <- prometheus.MustNewConstMetric(c.sched, prometheus.GaugeValue, float64(s.Scheduled), k)
	}
}

// WatchStuck reports unfinished jobs with no change for longer than after,
// by status.
func (m *Metrics) WatchStuck(store *jobs.Store, after time.Duration) {
	desc := prometheus.NewDesc("vidgate_jobs_stuck", "Unfinished jobs with no change for longer than the stuck threshold.", []string{"status"}, nil)
	m.reg.MustRegister(collectorFunc{desc: desc, collect: func(ch chan<- prometheus.Metric) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		counts, err := store.CountIdle(ctx, store.Now().Add(-after))
		if err != nil {
			ch <- prometheus.NewInvalidMetric(desc, err)
			return
		}
		for _, s := range jobs.GeneratingStatuses {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(counts[s]), string(s))
		}
	}})
}

// WatchConnections reports open WebSocket connections and active
// subscriptions.
func (m *Metrics) WatchConnections(conns, subs func() int64) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vidgate_websocket_connections", Help: "Open WebSocket connections."}, func() float64 { return float64(conns()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vidgate_subscriptions_active", Help: "Active GraphQL subscriptions."}, func() float64 { return float64(subs()) }),
	)
}

type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
