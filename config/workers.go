package config

import (
	"time"
)

// Workers configures the workers that apply rules to stored events.
type Workers struct {
	// Concurrency is how many events are processed at once (distinct chats;
	// one chat's events are always processed in order). Default 32.
	Concurrency int `yaml:"concurrency"`
	// MaxAttempts is how many times a retryable failure is tried before the
	// event goes to the dead-letter stream. Default 8.
	MaxAttempts int `yaml:"max_attempts"`
	// AckWait is how long JetStream waits for a worker's acknowledgement
	// before it delivers the event again. Workers signal progress while
	// they handle an event, so this bounds how soon the events of a worker
	// that died are handed to another, not how long an action may take.
	// Default 10s.
	AckWait time.Duration `yaml:"ack_wait"`
	// FailoverAfter is how long a partition stays with a worker replica
	// that stopped pulling (it died) before another replica takes it over;
	// its unfinished events are then redelivered after AckWait. Each
	// partition is owned by one replica at a time (a JetStream priority
	// group with a pinned client). At least 5s, and at least AckWait: a
	// new owner must not run a chat's later events before the dead owner's
	// unfinished ones are redelivered. Default 15s.
	FailoverAfter time.Duration `yaml:"failover_after"`
	// BackoffBase is the first retry delay; each further attempt doubles
	// it, with jitter, up to BackoffMax. A platform's Retry-After wins when
	// longer. Default 1s.
	BackoffBase time.Duration `yaml:"backoff_base"`
	// BackoffMax caps the retry delay; at least BackoffBase. Default 5m.
	BackoffMax time.Duration `yaml:"backoff_max"`
	// DryRun makes every rule a dry run: actions are audited, not taken.
	// Default false.
	DryRun bool `yaml:"dry_run"`
	// MaxPendingRechecks caps the re-checks of delayed rules (`after`)
	// pending at once, over every chat and rule (dry run included). There
	// is at most one per chat and rule: a later match replaces the pending
	// one. Beyond the cap a match that would add one is audited as skipped
	// and logged, and the rule does not act for it. Each pending re-check
	// is a message in the events stream. 1..10000000. Default 100000.
	MaxPendingRechecks int `yaml:"max_pending_rechecks"`
	// HandlerTimeout bounds one attempt at an event's rules (enrichment,
	// conditions, every step and API call); an attempt that runs out is a
	// retryable failure. Default 2m.
	HandlerTimeout time.Duration `yaml:"handler_timeout"`
	// BalanceEvery is how often (jittered by ±25%) a worker replica checks
	// that it owns no more than its share of the partitions (partitions
	// divided by the live replicas, rounded up) and, if it owns more,
	// releases one to a replica waiting for it. A replica started after the
	// others gets its share within a few periods. At least 1s: each check
	// asks the broker about every partition. Default 10s.
	BalanceEvery time.Duration `yaml:"balance_every"`
}

// Breaker configures the circuit breaker in front of each platform API, one
// per platform and set of credentials (each LiveChat organization of
// livechat.organizations and the default credentials, the HelpCrunch
// account, the Rocket.Chat server). Outage failures (connection errors,
// timeouts, 5xx answers; never 4xx or 429) open it when at least
// FailureRatio of at least MinCalls calls in Window failed, or
// ConsecutiveFailures failed in a row. While it is open the platform's
// events wait in order, their attempts not spent (workers.max_attempts
// counts failures of an API that answers), and one probe call every
// ProbeInterval (doubling up to ProbeMax) checks the API; when it answers,
// the breaker closes and the events go on.
type Breaker struct {
	// Window is how far back calls count. Default 30s.
	Window time.Duration `yaml:"window"`
	// MinCalls is how many calls the window must hold before FailureRatio
	// can open the breaker. 1..1000000. Default 5.
	MinCalls int `yaml:"min_calls"`
	// FailureRatio is the share of outage failures among the window's calls
	// that opens the breaker, over 0 and at most 1. Default 0.5.
	FailureRatio float64 `yaml:"failure_ratio"`
	// ConsecutiveFailures opens the breaker after this many outage failures
	// in a row, however slowly they come. Keep it below
	// workers.max_attempts (a warning says so otherwise), so that one event
	// failing alone opens the breaker before it runs out of attempts.
	// 1..1000000. Default 5.
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// ProbeInterval is the wait before the first probe call once open.
	// Default 5s.
	ProbeInterval time.Duration `yaml:"probe_interval"`
	// ProbeMax caps the wait between probes, which doubles after each
	// failed one; at least ProbeInterval. Default 1m.
	ProbeMax time.Duration `yaml:"probe_max"`
}

// DLQ configures the dead letters' automatic handling.
type DLQ struct {
	// AutoRetry retries, when a platform's circuit breaker closes, the dead
	// letters of that platform (and organization) whose attempts ran out on
	// an outage (connection errors, timeouts, 5xx), oldest first; each event
	// at most 3 times this way. Default true.
	AutoRetry *bool `yaml:"auto_retry"`
	// AutoRetryMax caps the dead letters retried at each close.
	// 1..1000000. Default 1000.
	AutoRetryMax int `yaml:"auto_retry_max"`
}

// AutoRetryOn reports dlq.auto_retry (true unless set false).
func (d DLQ) AutoRetryOn() bool { return d.AutoRetry == nil || *d.AutoRetry }

// Sweep configures the backlog sweep: `chatwarden sweep livechat-unassigned`
// (whose flags default to these settings) and, with Schedule, the sweeps
// that `work` and `serve` run by themselves. A sweep lists LiveChat chats
// that are Unassigned (routing.unassigned and routing.pinned true) and
// publishes one event per chat for the workers, whose built-in rule unpins
// each chat that is still pinned, unassigned and old enough.
type Sweep struct {
	// Schedule runs the sweep inside the workers on a JetStream message
	// schedule: "@every 1h" (at least 1s), "@hourly", "@daily" (also
	// @weekly, @monthly, @yearly), or a 6-field cron expression in UTC
	// ("0 30 2 * * *": every day at 02:30:00). Only one replica runs each
	// run. Default "": no scheduled sweeps (a schedule left from an earlier
	// configuration is removed when `work` starts).
	Schedule string `yaml:"schedule"`
	// OlderThan selects chats whose thread started at least this long ago.
	// Default 48h.
	OlderThan time.Duration `yaml:"older_than"`
	// Groups selects chats of these LiveChat group ids only (at most 200).
	// Default []: every group.
	Groups []int `yaml:"groups"`
	// Limit caps how many chats one sweep hands to the workers, oldest
	// first. Default 0: no cap.
	Limit int `yaml:"limit"`
	// Concurrency is how many chats of a `chatwarden sweep` may wait for
	// the workers' decision at once; the sweep publishes the next chat only
	// when one is decided, so live webhooks never queue behind a whole
	// backlog. 1..10000. Default 64.
	Concurrency int `yaml:"concurrency"`
	// MaxRate caps how many chats per second a sweep hands to the workers
	// (each costs the workers two API calls: get_chat to re-check, and the
	// unpin). Default 0: no cap; the LiveChat client slows down by itself
	// when the API answers too_many_requests.
	MaxRate float64 `yaml:"max_rate"`
	// Wait is how long `chatwarden sweep` waits for the workers' next
	// decision before it stops waiting and reports the chats still pending
	// (the workers go on with them). Default 2m.
	Wait time.Duration `yaml:"wait"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default "info".
	Level string `yaml:"level"`
	// Format is json (one object per line) or console (for people).
	// Default "json".
	Format string `yaml:"format"`
}
