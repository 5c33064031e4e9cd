// Package metrics declares every Prometheus metric chatwarden exports. One
// Metrics value is built per process (or per test) on its own registry, so
// several services can run in one test binary.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Outcomes of an event in the worker (label "outcome" of EventsProcessed).
const (
	OutcomeAck        = "ack"
	OutcomeRetry      = "retry"
	OutcomeDeadLetter = "dead_letter"
)

// Metrics holds the collectors. All names start with chatwarden_.
type Metrics struct {
	Registry *prometheus.Registry

	// Receiver.
	WebhooksReceived *prometheus.CounterVec   // platform, action: stored (new or duplicate)
	WebhooksRejected *prometheus.CounterVec   // platform, reason
	Duplicates       *prometheus.CounterVec   // platform: recognised as already stored
	PublishLatency   *prometheus.HistogramVec // platform: time to the JetStream PubAck

	// Worker.
	EventsProcessed *prometheus.CounterVec   // platform, action, outcome (ack|retry|dead_letter)
	Actions         *prometheus.CounterVec   // platform, operation, outcome (acted|skipped|failed|dry_run)
	Retries         *prometheus.CounterVec   // platform
	DeadLetters     *prometheus.CounterVec   // platform, reason
	ActionLatency   *prometheus.HistogramVec // platform, operation: platform API call duration

	// Dead-letter stream.
	DeadLettersPending prometheus.Gauge // dead letters stored now (not yet retried or purged)
}

// New builds the metrics on a fresh registry that also carries the Go runtime
// and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{
		Registry: reg,
		WebhooksReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatwarden_webhooks_received_total",
			Help: "Webhooks accepted and stored (or recognised as duplicates), by platform and action.",
		}, []string{"platform", "action"}),
		WebhooksRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatwarden_webhooks_rejected_total",
			Help: "Webhooks answered with an error, by platform and reason (unauthorized, malformed, too_large, unavailable).",
		}, []string{"platform", "reason"}),
		Duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatwarden_webhooks_duplicate_total",
			Help: "Webhooks recognised by JetStream as duplicates of a stored event.",
		}, []string{"platform"}),
		PublishLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatwarden_publish_duration_seconds",
			Help:    "Time from publishing an event to its JetStream acknowledgement.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"platform"}),
		EventsProcessed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatwarden_events_processed_total",
			Help: "Events handled by workers, by platform, action and outcome (ack, retry, dead_letter).",
		}, []string{"platform", "action", "outcome"}),
		Actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatwarden_actions_total",
			Help: "Rule decisions, by platform, operation and outcome (acted, skipped, failed, dry_run).",
		}, []string{"platform", "operation", "outcome"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatwarden_retries_total",
			Help: "Events handed back for a later retry after a retryable failure.",
		}, []string{"platform"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatwarden_dead_letters_total",
			Help: "Events moved to the dead-letter stream, by platform and reason.",
		}, []string{"platform", "reason"}),
		ActionLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatwarden_action_duration_seconds",
			Help:    "Duration of platform API calls made by actions.",
			Buckets: prometheus.DefBuckets,
		}, []string{"platform", "operation"}),
		DeadLettersPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chatwarden_dead_letters_pending",
			Help: "Dead letters stored in CHATWARDEN_DLQ now, waiting to be retried or purged (refreshed every few seconds).",
		}),
	}
	for _, c := range []prometheus.Collector{m.WebhooksReceived, m.WebhooksRejected, m.Duplicates, m.PublishLatency,
		m.EventsProcessed, m.Actions, m.Retries, m.DeadLetters, m.ActionLatency, m.DeadLettersPending} {
		f(c)
	}
	return m
}
