package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/metrics"
)

// Runner pulls events from durable consumers (one per partition) and hands
// them to a Handler.
//
// Guarantees:
//   - An event is acknowledged only after the handler succeeded, or after it
//     was stored in the dead-letter stream. A crash at any point leaves it
//     unacknowledged, so JetStream redelivers it after the ack wait.
//   - Events of the same chat are handled one at a time, in the order they
//     were delivered; different chats run concurrently up to the concurrency
//     limit. With partition consumers in a pinned priority group
//     (WithPriorityGroup), a partition is delivered to one replica at a time,
//     so this holds across replicas too.
//   - Retryable failures are retried in place, after exponential backoff with
//     jitter (honouring the platform's hint), while later events of the same
//     chat wait: a failing event holds back its own chat and no other. After
//     workers.max_attempts attempts the event is dead-lettered; permanent
//     failures are dead-lettered at once. No event loops forever: a delivery
//     beyond max_attempts (earlier attempts crashed) is dead-lettered without
//     running the handler.
//   - A handler error that is a Waiter (the platform's circuit breaker is
//     open) makes the event wait until the Waiter is ready and run again
//     without spending an attempt, so an outage never exhausts attempts;
//     later events of its chat wait behind it, and it holds no concurrency
//     slot meanwhile. Stop hands waiting events (and their chats' later
//     ones) back to the broker at once.
//   - While an event is handled, waits for a retry, or waits behind another
//     event of its chat, the runner tells JetStream it is in progress, so it
//     is not redelivered to another worker.
//   - Deliveries lost on their way from the broker (a gap in the consumer's
//     delivery sequence) do not let a chat's later events overtake them: the
//     partition holds what it receives after the gap, keeping it alive,
//     until the broker has redelivered the lost ones (one ack wait after it
//     sent them), then runs all of it in stream order. Without a pin (no
//     priority group) it holds for the pull expiry of 5s plus the ack wait
//     plus 1s at most.
//   - An acknowledgement is confirmed by the broker (sent again up to 4
//     times) before the chat's next event runs, so an ack lost in a broker
//     failover does not bring the event back after later ones (when it is
//     still not confirmed, the chat's later events are left to their
//     redelivery, behind it); dead letters are stored before the chat moves
//     on, retried in place until stored.
//   - A replica that may have lost an event to another replica does not act
//     on it: before an event starts, and before each retry, the runner
//     checks that the broker surely still counts it as this replica's (its
//     last keepalive confirmed by a round trip to the consumer less than
//     three quarters of the ack wait ago) and that the broker did not pin
//     the partition to another replica since it was delivered. If not (cut off from the broker,
//     or the pin moved), the event and the rest of its chat's queue are left
//     unacknowledged, so the broker's redelivery to the partition's owner is
//     the one that runs, and the partition holds its later events as after
//     a gap. A handler already running for such an event has its context
//     cancelled (at the next keepalive round), so it starts no further call.
//
// Where each part lives: pulling a partition and doing what its ownership
// decides in puller.go, the ownership itself (pinned, holding for a takeover
// or a gap, releasing, handing back) as a state machine without I/O in
// partition.go, per-chat chains in chains.go, keepalives and the ownership
// checks of running events in keepalive.go, the handling steps (Runner.steps)
// in process.go, retry.go and poison.go, balancing in balance.go.
type Runner struct {
	cons    []jetstream.Consumer
	group   string
	handler Handler
	dlq     DeadLetterSink

	logger      *zap.Logger
	metrics     *metrics.Metrics
	concurrency int
	maxAttempts uint64
	ackWait     time.Duration
	backoff     Backoff

	sem      chan struct{}
	mu       sync.Mutex
	chats    map[string][]*job      // present = a chain runs for the chat; value = its jobs, the first one current
	applied  map[string]lastApplied // by chat: the last event applied here, for a while (see superseded)
	wg       sync.WaitGroup
	workCtx  context.Context
	hardStop context.CancelFunc
	parts    []*partition
	pullOpts []jetstream.PullConsumeOpt
	stopOnce sync.Once

	lastPullErr time.Time // guarded by mu
	bal         *balancer // nil: no balancing
	waits       outageWaits
	pipeline    step // see steps
	// idle hands a chat's chain to a goroutine that ran one before and
	// waits for the next (see chainer).
	idle chan string
}

// Option configures a Runner.
type Option func(*Runner) error

// WithLogger sets the logger (default: discard).
func WithLogger(l *zap.Logger) Option {
	return func(r *Runner) error { r.logger = l; return nil }
}

// WithMetrics sets the metrics (default: a private set).
func WithMetrics(m *metrics.Metrics) Option {
	return func(r *Runner) error { r.metrics = m; return nil }
}

// WithConcurrency sets how many events' handlers run at once (default 32).
// An event whose handler is done waits for the broker's confirmation of its
// ack without a slot (its chat's next event waits for it).
func WithConcurrency(n int) Option {
	return func(r *Runner) error {
		if n < 1 {
			return fmt.Errorf("consumer: concurrency must be at least 1, got %d", n)
		}
		r.concurrency = n
		return nil
	}
}

// WithMaxAttempts sets the deliveries after which a retryable failure is
// dead-lettered (default 8).
func WithMaxAttempts(n int) Option {
	return func(r *Runner) error {
		if n < 1 {
			return fmt.Errorf("consumer: max attempts must be at least 1, got %d", n)
		}
		r.maxAttempts = uint64(n)
		return nil
	}
}

// WithAckWait tells the runner the consumer's ack wait (default 30s,
// JetStream's for a consumer created without one), so it sends in-progress
// signals in time.
func WithAckWait(d time.Duration) Option {
	return func(r *Runner) error {
		if d <= 0 {
			return fmt.Errorf("consumer: ack wait must be positive, got %s", d)
		}
		r.ackWait = d
		return nil
	}
}

// WithPriorityGroup pulls as a member of the consumers' priority group
// (bus.WorkerGroup for pinned partition consumers). Default: none.
func WithPriorityGroup(group string) Option {
	return func(r *Runner) error { r.group = group; return nil }
}

// WithBackoff sets the retry backoff (default 1s doubling to 5m).
func WithBackoff(b Backoff) Option {
	return func(r *Runner) error { r.backoff = b; return nil }
}

// New builds a runner over the consumers cons (one per partition). Dead
// letters go to dlq.
func New(cons []jetstream.Consumer, h Handler, dlq DeadLetterSink, opts ...Option) (*Runner, error) {
	if len(cons) == 0 || h == nil || dlq == nil {
		return nil, errors.New("consumer: consumers, handler and dead-letter sink are required")
	}
	r := &Runner{
		cons: cons, handler: h, dlq: dlq,
		logger: zap.NewNop(), concurrency: config.DefaultConcurrency, maxAttempts: config.DefaultMaxAttempts, ackWait: 30 * time.Second,
		backoff: Backoff{}.withDefaults(),
		chats:   map[string][]*job{}, applied: map[string]lastApplied{}, idle: make(chan string),
	}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, err
		}
	}
	if r.metrics == nil {
		r.metrics = metrics.New()
	}
	r.logger = r.logger.Named("worker")
	r.sem = make(chan struct{}, r.concurrency)
	return r, nil
}

// pullExpiry bounds each pull request, so that a pinned replica renews its
// pin well within the consumers' PinnedTTL even when idle.
const pullExpiry = 5 * time.Second

// Start begins pulling and handling events in the background. Stop ends it.
func (r *Runner) Start() error {
	// Each pull asks for 2 x concurrency / partitions events (4 with the
	// defaults; the client asks again when half have arrived). Larger
	// batches save pull requests (1 per 16 events with 32) but keep more
	// events waiting in this client, where under CPU starvation their ack
	// wait runs out and they are redelivered while still here. With 32 the
	// chaos test once saw order violations after takeovers, at a time when
	// a hold counted such a message twice (see ownership.poll, which now
	// counts it once); 32 has not been through the chaos test since. In
	// alternating saturation runs of bench/e2e, 32 gave no measurable gain
	// (1,474-1,849 applied/s against 1,762-1,855 with 4), so the batch
	// stays small.
	batch := max(1, 2*r.concurrency/len(r.cons))
	r.pullOpts = []jetstream.PullConsumeOpt{jetstream.PullMaxMessages(batch), jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(r.pullError)}
	if r.group != "" {
		r.pullOpts = append(r.pullOpts, jetstream.PullPriorityGroup(r.group))
	}
	r.workCtx, r.hardStop = context.WithCancel(context.Background())
	r.pipeline = r.steps()
	for _, c := range r.cons {
		p := newPartition(r, c)
		if err := p.consume(p.own.begin()); err != nil {
			for _, started := range r.parts {
				started.stop()
			}
			r.hardStop()
			return fmt.Errorf("starting to pull from consumer %s: %w", p.name, err)
		}
		r.parts = append(r.parts, p)
	}
	go r.keepAlive()
	go r.probe()
	if r.bal != nil && r.group != "" {
		go r.balance()
	}
	return nil
}

// pullError logs pulling errors (a missed heartbeat, a disconnect), at most
// one every 30s: the client re-issues its pull requests by itself.
func (r *Runner) pullError(cc jetstream.ConsumeContext, err error) {
	r.mu.Lock()
	quiet := time.Since(r.lastPullErr) < 30*time.Second
	if !quiet {
		r.lastPullErr = time.Now()
	}
	r.mu.Unlock()
	if !quiet {
		r.logger.Warn("pulling events", zap.Error(err))
	}
}

// Stop stops pulling, lets the events already received finish, and returns
// when they are done or ctx ends; then handlers still running are cancelled
// (their events are redelivered later, nothing is lost).
func (r *Runner) Stop(ctx context.Context) error {
	if len(r.parts) == 0 {
		return ErrStopped
	}
	var err error
	r.stopOnce.Do(func() {
		r.waits.stopNow()
		var closed []<-chan struct{}
		for _, p := range r.parts {
			closed = append(closed, p.stop()...)
		}
		done := make(chan struct{})
		go func() {
			for _, c := range closed {
				<-c
			}
			r.wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			r.hardStop()
			<-done
			err = fmt.Errorf("stopping workers: %w; unfinished events will be redelivered", ctx.Err())
		}
		r.hardStop()
	})
	return err
}
