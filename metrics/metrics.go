// Package metrics declares every Prometheus metric chatwarden exports. One
// Metrics value is built per process (or per test) on its own registry, so
// several services can run in one test binary.
package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/chatwarden/chatwarden/internal/buildinfo"
)

// Outcomes of an event in the worker (label "outcome" of EventsProcessed).
const (
	OutcomeAck        = "ack"
	OutcomeRetry      = "retry"
	OutcomeDeadLetter = "dead_letter"
	// OutcomeTerminated: given up without a dead letter, because the broker
	// refused it even in reduced form (see consumer.ErrDeadLetterRefused).
	OutcomeTerminated = "terminated"
	// OutcomeWait: the platform is unavailable (its circuit breaker is
	// open); the event waits without spending an attempt.
	OutcomeWait = "wait"
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
	EventsProcessed *prometheus.CounterVec // platform, action, outcome (ack|retry|dead_letter)
	Actions         *prometheus.CounterVec // platform, operation, outcome (acted|skipped|failed|dry_run)
	Retries         *prometheus.CounterVec // platform
	DeadLetters     *prometheus.CounterVec // platform, reason
	DeliveryGaps    prometheus.Counter     // deliveries lost between the broker and this worker (then held back)
	// StaleConsumerInfo counts answers of a consumer's info that a holding
	// partition ignored because they predate what it had received.
	StaleConsumerInfo prometheus.Counter
	ActionLatency     *prometheus.HistogramVec // platform, operation: platform API call duration
	// WebhookToAction is what users feel: from the receiver storing a
	// webhook (the event's received_at) to the platform confirming an
	// action a rule took on it. Only events of source webhook: re-checks
	// and sweeps are late on purpose.
	WebhookToAction *prometheus.HistogramVec // platform

	// Dead-letter stream.
	DeadLettersPending prometheus.Gauge // dead letters stored now (not yet retried or purged)

	// RuleDecisions counts audit records by rule and outcome (acted, skipped,
	// failed, dry_run, scheduled); incremented where the engine records them.
	RuleDecisions *prometheus.CounterVec // rule, outcome
	// APIResponses counts platform API answers by HTTP status ("error" when
	// no answer came: timeout, network); see InstrumentClient.
	APIResponses *prometheus.CounterVec // platform, status

	// Streams and consumers, refreshed every few seconds from JetStream's
	// stream and consumer info (console.WatchStreams), so every process
	// reports the shared state; aggregate with max() across instances.
	StreamMessages      *prometheus.GaugeVec // stream: messages stored now
	ConsumerPending     *prometheus.GaugeVec // stream, consumer, partition: stored, not yet delivered
	ConsumerAckPending  *prometheus.GaugeVec // stream, consumer, partition: delivered, not yet acknowledged
	ConsumerRedelivered *prometheus.GaugeVec // stream, consumer, partition: delivered more than once, not yet acknowledged

	// WebhookBytesInflight is the webhook body bytes charged to
	// http.max_inflight_bytes now (buffers of bodies being read or stored).
	WebhookBytesInflight prometheus.Gauge
	// ConnectionsRejected counts connections closed at once by the
	// listener's caps, by reason (per_ip: http.max_conns_per_ip; total:
	// http.max_conns).
	ConnectionsRejected *prometheus.CounterVec // reason
	// BuildInfo is 1 for the running binary's version, VCS revision and Go
	// version (see SetBuildInfo); New sets it from the binary's build
	// information.
	BuildInfo *prometheus.GaugeVec // version, revision, go_version
	// RuleReloads counts reloads of rules_file (file change or SIGHUP), by
	// outcome: ok (put in force) or failed (refused; the old rules stay).
	RuleReloads *prometheus.CounterVec // outcome
	// BreakerState is each platform API circuit breaker's state: 0 closed,
	// 1 half-open (one probe call out), 2 open (events wait). Labelled by
	// platform and organization (configured credentials only: bounded).
	BreakerState *prometheus.GaugeVec // platform, org
	// BreakerTransitions counts the breakers' state changes, by the state
	// entered (closed, half_open, open).
	BreakerTransitions *prometheus.CounterVec // platform, org, state
	// DeadLettersAutoRetried counts dead letters of an outage retried by
	// themselves after the platform's breaker closed (dlq.auto_retry), by
	// platform and outcome (retried, failed).
	DeadLettersAutoRetried *prometheus.CounterVec // platform, outcome
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
			Help: "Webhooks answered with an error, by platform and reason (unauthorized, stale, malformed, too_large, unavailable, overloaded, over_memory, body_timeout, client_limit).",
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
			Help: "Events handled by workers, by platform, action (\"other\" outside the documented actions) and outcome (ack, retry, dead_letter, terminated).",
		}, []string{"platform", "action", "outcome"}),
		Actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatwarden_actions_total",
			Help: "Rule decisions, by platform, operation and outcome (acted, skipped, failed, dry_run).",
		}, []string{"platform", "operation", "outcome"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatwarden_retries_total",
			Help: "Events handed back for a later retry after a retryable failure.",
		}, []string{"platform"}),
		DeliveryGaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatwarden_delivery_gaps_total",
			Help: "Times a worker saw deliveries of a partition lost on their way to it; the partition's later events were then held until the lost ones were redelivered (one ack wait), and all ran in stream order.",
		}),
		StaleConsumerInfo: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatwarden_stale_consumer_info_total",
			Help: "Answers of a partition's consumer info that a worker holding the partition ignored because they showed less delivered than it had received (a broker node that restarted answers from its stored state until it hears from the consumer's leader); the hold went on.",
		}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatwarden_dead_letters_total",
			Help: "Events moved to the dead-letter stream, by platform and reason.",
		}, []string{"platform", "reason"}),
		ActionLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatwarden_action_duration_seconds",
			Help:    "Duration of platform API calls made by actions.",
			Buckets: prometheus.DefBuckets,
		}, []string{"platform", "operation"}),
		WebhookToAction: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatwarden_webhook_to_action_seconds",
			Help:    "Time from a webhook being stored to an action a rule took on it being confirmed by the platform (webhook events only).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"platform"}),
		DeadLettersPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chatwarden_dead_letters_pending",
			Help: "Dead letters stored in CHATWARDEN_DLQ now, waiting to be retried or purged (refreshed every few seconds).",
		}),
		RuleDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatwarden_rule_decisions_total",
			Help: "Rule decisions (audit records), by rule and outcome (acted, skipped, failed, dry_run, scheduled).",
		}, []string{"rule", "outcome"}),
		APIResponses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatwarden_api_responses_total",
			Help: "Platform API responses, by platform and HTTP status (\"error\" when no response arrived).",
		}, []string{"platform", "status"}),
		StreamMessages: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chatwarden_stream_messages",
			Help: "Messages stored in each chatwarden JetStream stream now (refreshed every few seconds).",
		}, []string{"stream"}),
		ConsumerPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chatwarden_consumer_pending",
			Help: "Messages not yet delivered to the consumer (its lag), by stream, consumer and partition (\"all\" for a consumer of every partition).",
		}, []string{"stream", "consumer", "partition"}),
		ConsumerAckPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chatwarden_consumer_ack_pending",
			Help: "Messages delivered to the consumer and not yet acknowledged, by stream, consumer and partition.",
		}, []string{"stream", "consumer", "partition"}),
		ConsumerRedelivered: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chatwarden_consumer_redelivered",
			Help: "Messages delivered more than once and not yet acknowledged, by stream, consumer and partition.",
		}, []string{"stream", "consumer", "partition"}),
	}
	for _, c := range []prometheus.Collector{m.WebhooksReceived, m.WebhooksRejected, m.Duplicates, m.PublishLatency,
		m.EventsProcessed, m.Actions, m.Retries, m.DeadLetters, m.DeliveryGaps, m.StaleConsumerInfo, m.ActionLatency, m.DeadLettersPending,
		m.RuleDecisions, m.APIResponses, m.StreamMessages, m.ConsumerPending, m.ConsumerAckPending, m.ConsumerRedelivered,
		m.WebhookToAction} {
		f(c)
	}
	m.WebhookBytesInflight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "chatwarden_webhook_bytes_inflight",
		Help: "Webhook body bytes being received or stored now, charged to http.max_inflight_bytes as they arrive.",
	})
	f(m.WebhookBytesInflight)
	m.ConnectionsRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatwarden_connections_rejected_total",
		Help: "Connections answered 503 and closed by the listener before any request was read, by reason (per_ip: over http.max_conns_per_ip; total: over http.max_conns).",
	}, []string{"reason"})
	f(m.ConnectionsRejected)
	m.BuildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "chatwarden_build_info",
		Help: "Always 1, labelled with the running binary's version, VCS revision (\"unknown\" when not recorded) and Go version.",
	}, []string{"version", "revision", "go_version"})
	f(m.BuildInfo)
	m.SetBuildInfo(buildinfo.Read(""))
	m.RuleReloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatwarden_rule_reloads_total",
		Help: "Reloads of rules_file (on change or SIGHUP), by outcome: ok (in force) or failed (refused; the previous rules stay).",
	}, []string{"outcome"})
	f(m.RuleReloads)
	m.BreakerState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "chatwarden_breaker_state",
		Help: "State of each platform API's circuit breaker, by platform and organization: 0 closed, 1 half-open (one probe call out), 2 open (its events wait).",
	}, []string{"platform", "org"})
	f(m.BreakerState)
	m.BreakerTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatwarden_breaker_transitions_total",
		Help: "State changes of the platform API circuit breakers, by platform, organization and the state entered (closed, half_open, open).",
	}, []string{"platform", "org", "state"})
	f(m.BreakerTransitions)
	m.DeadLettersAutoRetried = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatwarden_dead_letters_auto_retried_total",
		Help: "Dead letters of a platform outage retried by themselves once the platform's circuit breaker closed (dlq.auto_retry), by platform and outcome (retried, failed).",
	}, []string{"platform", "outcome"})
	f(m.DeadLettersAutoRetried)
	return m
}

// Outcomes of a rule reload (label "outcome" of RuleReloads).
const (
	ReloadOK     = "ok"
	ReloadFailed = "failed"
)

// SetBuildInfo makes info the one series of chatwarden_build_info (the
// command line passes the version given with -ldflags, which New cannot
// know).
func (m *Metrics) SetBuildInfo(info buildinfo.Info) {
	m.BuildInfo.Reset()
	m.BuildInfo.WithLabelValues(info.Version, info.Revision, info.GoVersion).Set(1)
}

// InstrumentClient returns a copy of c whose transport counts every response
// in APIResponses{platform, status}: the HTTP status, or "error" when the
// request got no response. It changes nothing else about c; a nil c is
// http.DefaultClient's settings.
func (m *Metrics) InstrumentClient(platform string, c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	}
	next := out.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	out.Transport = countingTransport{next: next, counter: m.APIResponses.MustCurryWith(prometheus.Labels{"platform": platform})}
	return &out
}

type countingTransport struct {
	next    http.RoundTripper
	counter *prometheus.CounterVec // status
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	t.counter.WithLabelValues(status).Inc()
	return resp, err
}
