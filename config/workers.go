package config

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Defaults and limits of the workers section.
const (
	DefaultConcurrency   = 32
	DefaultMaxAttempts   = 8
	DefaultAckWait       = 10 * time.Second
	DefaultFailoverAfter = 15 * time.Second
	DefaultBackoffBase   = 1 * time.Second
	DefaultBackoffMax    = 5 * time.Minute
	// DefaultHandlerTimeout is workers.handler_timeout.
	DefaultHandlerTimeout = 2 * time.Minute
	// DefaultMaxPendingRechecks is workers.max_pending_rechecks.
	DefaultMaxPendingRechecks = 100000
	// DefaultBalanceEvery is workers.balance_every.
	DefaultBalanceEvery = 10 * time.Second
	// MinFailoverAfter is the shortest workers.failover_after accepted.
	MinFailoverAfter = 5 * time.Second
	// MinBalanceEvery is the shortest workers.balance_every accepted.
	MinBalanceEvery = time.Second
	// MaxConcurrency bounds workers.concurrency (and sweep.concurrency),
	// MaxMaxAttempts workers.max_attempts, MaxMaxPendingRechecks
	// workers.max_pending_rechecks.
	MaxConcurrency        = 10000
	MaxMaxAttempts        = 1000
	MaxMaxPendingRechecks = 10000000
)

// Workers configures the workers that apply rules to stored events.
type Workers struct {
	// Concurrency is how many events' rules run at once (distinct chats;
	// one chat's events are always processed in order). A handled event
	// waiting for the broker to confirm its ack holds no slot. Default 32.
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

// Provision sets each zero setting of the workers section to its default;
// settings already set are kept. It is the one place the section's
// defaults are applied.
func (w *Workers) Provision() {
	setInt(&w.Concurrency, DefaultConcurrency)
	setInt(&w.MaxAttempts, DefaultMaxAttempts)
	setInt(&w.MaxPendingRechecks, DefaultMaxPendingRechecks)
	setDuration(&w.HandlerTimeout, DefaultHandlerTimeout)
	setDuration(&w.AckWait, DefaultAckWait)
	setDuration(&w.FailoverAfter, DefaultFailoverAfter)
	setDuration(&w.BackoffBase, DefaultBackoffBase)
	setDuration(&w.BackoffMax, DefaultBackoffMax)
	setDuration(&w.BalanceEvery, DefaultBalanceEvery)
}

// Validate reports every problem of the workers section, each a
// *FieldError naming its key ("workers.concurrency: must be between 1 and
// 10000, got 0"), joined with errors.Join; nil when there is none. It
// applies no default.
func (w *Workers) Validate() error { return validateWith(w.validate) }

func (w *Workers) validate(v *validator) {
	v.between("workers.concurrency", w.Concurrency, 1, MaxConcurrency)
	v.between("workers.max_attempts", w.MaxAttempts, 1, MaxMaxAttempts)
	v.between("workers.max_pending_rechecks", w.MaxPendingRechecks, 1, MaxMaxPendingRechecks)
	v.positive("workers.handler_timeout", w.HandlerTimeout)
	v.positive("workers.ack_wait", w.AckWait)
	if w.FailoverAfter < MinFailoverAfter {
		v.add("workers.failover_after", "must be at least %s, got %s", MinFailoverAfter, w.FailoverAfter)
	} else if w.FailoverAfter < w.AckWait {
		v.add("workers.failover_after", "must be at least workers.ack_wait (%s), got %s: a replica taking over a partition would otherwise run a chat's later events before the earlier ones the dead replica held are redelivered",
			w.AckWait, w.FailoverAfter)
	}
	if w.BalanceEvery < MinBalanceEvery {
		v.add("workers.balance_every", "must be at least %s, got %s", MinBalanceEvery, w.BalanceEvery)
	}
	v.positive("workers.backoff_base", w.BackoffBase)
	v.positive("workers.backoff_max", w.BackoffMax)
	if w.BackoffBase > 0 && w.BackoffMax > 0 && w.BackoffMax < w.BackoffBase {
		v.add("workers.backoff_max", "must be at least workers.backoff_base (%s), got %s", w.BackoffBase, w.BackoffMax)
	}
}

// Defaults and limits of the breaker section.
const (
	DefaultBreakerWindow        = 30 * time.Second
	DefaultBreakerMinCalls      = 5
	DefaultBreakerFailureRatio  = 0.5
	DefaultBreakerConsecutive   = 5
	DefaultBreakerProbeInterval = 5 * time.Second
	DefaultBreakerProbeMax      = time.Minute
	// MaxBreakerCalls bounds breaker.min_calls and
	// breaker.consecutive_failures.
	MaxBreakerCalls = 1000000
)

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

// Provision sets each zero setting of the breaker section to its default;
// settings already set are kept. It is the one place the section's
// defaults are applied.
func (b *Breaker) Provision() {
	setDuration(&b.Window, DefaultBreakerWindow)
	setInt(&b.MinCalls, DefaultBreakerMinCalls)
	setFloat(&b.FailureRatio, DefaultBreakerFailureRatio)
	setInt(&b.ConsecutiveFailures, DefaultBreakerConsecutive)
	setDuration(&b.ProbeInterval, DefaultBreakerProbeInterval)
	setDuration(&b.ProbeMax, DefaultBreakerProbeMax)
}

// Validate reports every problem of the breaker section, each a
// *FieldError naming its key, joined with errors.Join; nil when there is
// none. It applies no default.
func (b *Breaker) Validate() error { return validateWith(b.validate) }

func (b *Breaker) validate(v *validator) {
	v.positive("breaker.window", b.Window)
	v.between("breaker.min_calls", b.MinCalls, 1, MaxBreakerCalls)
	if b.FailureRatio <= 0 || b.FailureRatio > 1 {
		v.add("breaker.failure_ratio", "must be over 0 and at most 1, got %g", b.FailureRatio)
	}
	v.between("breaker.consecutive_failures", b.ConsecutiveFailures, 1, MaxBreakerCalls)
	v.positive("breaker.probe_interval", b.ProbeInterval)
	v.positive("breaker.probe_max", b.ProbeMax)
	if b.ProbeInterval > 0 && b.ProbeMax > 0 && b.ProbeMax < b.ProbeInterval {
		v.add("breaker.probe_max", "must be at least breaker.probe_interval (%s), got %s", b.ProbeInterval, b.ProbeMax)
	}
}

// Defaults and limits of the dlq section.
const (
	DefaultDLQAutoRetry    = true
	DefaultDLQAutoRetryMax = 1000
	// MaxDLQAutoRetryMax bounds dlq.auto_retry_max.
	MaxDLQAutoRetryMax = 1000000
)

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

// AutoRetryOn reports dlq.auto_retry (DefaultDLQAutoRetry unless set).
func (d DLQ) AutoRetryOn() bool {
	if d.AutoRetry == nil {
		return DefaultDLQAutoRetry
	}
	return *d.AutoRetry
}

// Provision sets each unset setting of the dlq section to its default;
// settings already set are kept. It is the one place the section's
// defaults are applied.
func (d *DLQ) Provision() {
	if d.AutoRetry == nil {
		on := DefaultDLQAutoRetry
		d.AutoRetry = &on
	}
	setInt(&d.AutoRetryMax, DefaultDLQAutoRetryMax)
}

// Validate reports every problem of the dlq section, each a *FieldError
// naming its key, joined with errors.Join; nil when there is none.
func (d *DLQ) Validate() error { return validateWith(d.validate) }

func (d *DLQ) validate(v *validator) {
	v.between("dlq.auto_retry_max", d.AutoRetryMax, 1, MaxDLQAutoRetryMax)
}

// Defaults and limits of the sweep section.
const (
	DefaultSweepOlderThan   = 48 * time.Hour
	DefaultSweepConcurrency = 64
	DefaultSweepWait        = 2 * time.Minute
	// MaxSweepGroups bounds the length of sweep.groups (list_archives
	// accepts 200 group ids).
	MaxSweepGroups = 200
)

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

// Provision sets each zero setting of the sweep section to its default;
// settings already set are kept. It is the one place the section's
// defaults are applied.
func (s *Sweep) Provision() {
	setDuration(&s.OlderThan, DefaultSweepOlderThan)
	setInt(&s.Concurrency, DefaultSweepConcurrency)
	setDuration(&s.Wait, DefaultSweepWait)
}

// Validate reports every problem of the sweep section, each a *FieldError
// naming its key, joined with errors.Join; nil when there is none. It
// applies no default.
func (s *Sweep) Validate() error { return validateWith(s.validate) }

func (s *Sweep) validate(v *validator) {
	if s.Schedule != "" {
		if err := CheckSchedule(s.Schedule); err != nil {
			v.add("sweep.schedule", "%v", err)
		}
	}
	v.positive("sweep.older_than", s.OlderThan)
	if len(s.Groups) > MaxSweepGroups {
		v.add("sweep.groups", "must list at most %d groups, got %d", MaxSweepGroups, len(s.Groups))
	}
	for i, g := range s.Groups {
		if g < 0 {
			v.add(fmt.Sprintf("sweep.groups[%d]", i), "must be a group id (0 or more), got %d", g)
		}
	}
	if s.Limit < 0 {
		v.add("sweep.limit", "must be 0 (no cap) or more, got %d", s.Limit)
	}
	v.between("sweep.concurrency", s.Concurrency, 1, MaxConcurrency)
	if s.MaxRate < 0 || math.IsNaN(s.MaxRate) || math.IsInf(s.MaxRate, 0) {
		v.add("sweep.max_rate", "must be 0 (no cap) or a positive number of chats per second, got %v", s.MaxRate)
	}
	v.positive("sweep.wait", s.Wait)
}

// CheckSchedule checks a sweep schedule as JetStream message schedules
// accept it: "@every <duration>" of at least 1s, one of @yearly, @annually,
// @monthly, @weekly, @daily, @midnight, @hourly, or a cron expression of 6
// fields (second minute hour day-of-month month day-of-week). The fields of
// a cron expression are checked by the server when the schedule is stored.
func CheckSchedule(s string) error {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return fmt.Errorf(`"@every" needs a duration such as 30m or 1h, got %q`, rest)
		}
		if d < time.Second {
			return fmt.Errorf(`"@every" needs at least 1s, got %s`, d)
		}
		return nil
	}
	switch s {
	case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
		return nil
	}
	if strings.HasPrefix(s, "@") {
		return fmt.Errorf(`unknown schedule %q: use "@every 1h", @hourly, @daily, @weekly, @monthly, @yearly or a 6-field cron expression`, s)
	}
	if n := len(strings.Fields(s)); n != 6 {
		return fmt.Errorf(`a cron expression needs 6 fields (second minute hour day-of-month month day-of-week, e.g. "0 0 * * * *"), got %d in %q`, n, s)
	}
	return nil
}

// Defaults of the log section.
const (
	DefaultLogLevel  = "info"
	DefaultLogFormat = "json"
)

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default "info".
	Level string `yaml:"level"`
	// Format is json (one object per line) or console (for people).
	// Default "json".
	Format string `yaml:"format"`
}

// Provision sets each empty setting of the log section to its default;
// settings already set are kept. It is the one place the section's
// defaults are applied.
func (l *Log) Provision() {
	setString(&l.Level, DefaultLogLevel)
	setString(&l.Format, DefaultLogFormat)
}

// Validate reports every problem of the log section, each a *FieldError
// naming its key, joined with errors.Join; nil when there is none.
func (l *Log) Validate() error { return validateWith(l.validate) }

func (l *Log) validate(v *validator) {
	v.oneOf("log.level", l.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", l.Format, "json", "console")
}
