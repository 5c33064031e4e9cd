package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/tracing"
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
//   - While an event is handled, waits for a retry, or waits behind another
//     event of its chat, the runner tells JetStream it is in progress, so it
//     is not redelivered to another worker.
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
	chats    map[string][]*job // present = a chain runs for the chat; value = waiting jobs
	wg       sync.WaitGroup
	workCtx  context.Context
	hardStop context.CancelFunc
	loops    sync.WaitGroup
	iters    []jetstream.MessagesContext
	stopOnce sync.Once
}

type job struct {
	msg jetstream.Msg
	ev  *event.Event
	err error // decoding error
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

// WithConcurrency sets how many events are handled at once (default 32).
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

// WithAckWait tells the runner the consumer's ack wait (default 30s), so it
// sends in-progress signals in time.
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
		logger: zap.NewNop(), concurrency: 32, maxAttempts: 8, ackWait: 30 * time.Second,
		backoff: Backoff{Base: time.Second, Max: 5 * time.Minute},
		chats:   map[string][]*job{},
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
	batch := max(1, 2*r.concurrency/len(r.cons))
	opts := []jetstream.PullMessagesOpt{jetstream.PullMaxMessages(batch), jetstream.PullExpiry(pullExpiry)}
	if r.group != "" {
		opts = append(opts, jetstream.PullPriorityGroup(r.group))
	}
	for _, c := range r.cons {
		it, err := c.Messages(opts...)
		if err != nil {
			for _, started := range r.iters {
				started.Stop()
			}
			return fmt.Errorf("starting to pull from consumer %s: %w", c.CachedInfo().Name, err)
		}
		r.iters = append(r.iters, it)
	}
	r.workCtx, r.hardStop = context.WithCancel(context.Background())
	for _, it := range r.iters {
		r.loops.Add(1)
		go r.loop(it)
	}
	go r.keepQueuedAlive()
	return nil
}

// Stop stops pulling, lets the events already received finish, and returns
// when they are done or ctx ends; then handlers still running are cancelled
// (their events are redelivered later, nothing is lost).
func (r *Runner) Stop(ctx context.Context) error {
	if len(r.iters) == 0 {
		return ErrStopped
	}
	var err error
	r.stopOnce.Do(func() {
		for _, it := range r.iters {
			it.Drain()
		}
		done := make(chan struct{})
		go func() { r.loops.Wait(); r.wg.Wait(); close(done) }()
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

func (r *Runner) loop(it jetstream.MessagesContext) {
	defer r.loops.Done()
	var lastErrLog time.Time
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			if time.Since(lastErrLog) > 30*time.Second {
				r.logger.Warn("pulling events", zap.Error(err))
				lastErrLog = time.Now()
			}
			continue
		}
		r.sem <- struct{}{}
		j := &job{msg: msg}
		j.ev, j.err = event.Unmarshal(msg.Data())
		key := "?undecodable"
		if j.err == nil {
			key = j.ev.Key()
		}
		r.mu.Lock()
		if q, busy := r.chats[key]; busy {
			r.chats[key] = append(q, j)
			r.mu.Unlock()
			continue
		}
		r.chats[key] = nil
		r.mu.Unlock()
		r.wg.Add(1)
		go r.chain(key, j)
	}
}

// chain handles j and then the jobs queued behind it for the same chat.
func (r *Runner) chain(key string, j *job) {
	defer r.wg.Done()
	for {
		r.process(j)
		<-r.sem
		r.mu.Lock()
		q := r.chats[key]
		if len(q) == 0 {
			delete(r.chats, key)
			r.mu.Unlock()
			return
		}
		j, r.chats[key] = q[0], q[1:]
		r.mu.Unlock()
	}
}

// keepQueuedAlive sends in-progress signals for events waiting behind another
// event of the same chat.
func (r *Runner) keepQueuedAlive() {
	t := time.NewTicker(r.ackWait / 3)
	defer t.Stop()
	for {
		select {
		case <-r.workCtx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		for _, q := range r.chats {
			for _, j := range q {
				_ = j.msg.InProgress()
			}
		}
		r.mu.Unlock()
	}
}

func (r *Runner) process(j *job) {
	md, err := j.msg.Metadata()
	if err != nil {
		r.logger.Error("message without JetStream metadata; terminating it", zap.String("subject", j.msg.Subject()), zap.Error(err))
		_ = j.msg.Term()
		return
	}
	if j.err != nil {
		r.deadLetter(j, md, ReasonUndecodable, j.err)
		return
	}
	ev := j.ev
	log := r.logger.With(zap.String("event_id", ev.ID), zap.String("platform", ev.Platform),
		zap.String("action", ev.Action), zap.String("chat_id", ev.ChatID), zap.Uint64("attempt", md.NumDelivered))
	if md.NumDelivered > r.maxAttempts {
		r.deadLetter(j, md, ReasonExhausted, fmt.Errorf(
			"delivered %d times, more than workers.max_attempts=%d (an earlier attempt crashed or timed out)",
			md.NumDelivered, r.maxAttempts))
		return
	}

	stopKeepAlive := r.keepAlive(j.msg)
	defer stopKeepAlive()
	ctx, span := tracing.Tracer().Start(tracing.Extract(r.workCtx, j.msg.Headers()), "process "+ev.Platform+"."+ev.Action,
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attribute.String("chatwarden.event_id", ev.ID),
			attribute.String("chatwarden.chat_id", ev.ChatID), attribute.Int64("chatwarden.delivery", int64(md.NumDelivered))))
	defer span.End()
	for attempt := md.NumDelivered; ; attempt++ {
		err = r.handler.Handle(WithAttempt(ctx, attempt), ev)
		if err != nil {
			span.AddEvent("attempt failed", trace.WithAttributes(attribute.Int64("attempt", int64(attempt)), attribute.String("error", err.Error())))
		}
		permanent, hint := Classify(err)
		switch {
		case err == nil:
			// A plain ack: if it is lost, the event is redelivered and handled
			// again, which rules tolerate (idempotent actions repeat harmlessly,
			// others are recorded in CHATWARDEN_DONE and skipped).
			if aerr := j.msg.Ack(); aerr != nil {
				log.Warn("acknowledging event failed; it will be redelivered and handled again", zap.Error(aerr))
			}
			r.metrics.EventsProcessed.WithLabelValues(ev.Platform, ev.Action, metrics.OutcomeAck).Inc()
			return
		case permanent:
			log.Warn("permanent failure; dead-lettering the event", zap.Error(err))
			md.NumDelivered = attempt
			r.deadLetter(j, md, ReasonPermanent, err)
			return
		case attempt >= r.maxAttempts:
			log.Warn("attempts exhausted; dead-lettering the event", zap.Error(err))
			md.NumDelivered = attempt
			r.deadLetter(j, md, ReasonExhausted, err)
			return
		case r.workCtx.Err() != nil:
			// Shutting down: leave it for redelivery without counting a failure.
			_ = j.msg.Nak()
			return
		}
		delay := r.backoff.Delay(attempt, hint)
		log.Info("retryable failure; retrying in place, later events of this chat wait",
			zap.Duration("delay", delay), zap.Uint64("attempt", attempt), zap.Error(err))
		r.metrics.Retries.WithLabelValues(ev.Platform).Inc()
		r.metrics.EventsProcessed.WithLabelValues(ev.Platform, ev.Action, metrics.OutcomeRetry).Inc()
		select {
		case <-time.After(delay):
		case <-r.workCtx.Done():
			_ = j.msg.Nak()
			return
		}
	}
}

// keepAlive signals in-progress every third of the ack wait until stopped.
func (r *Runner) keepAlive(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(r.ackWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { close(done) }
}

// deadLetter stores the event in the dead-letter stream and terminates it.
// If storing fails the event is handed back for redelivery instead: it is
// never dropped.
func (r *Runner) deadLetter(j *job, md *jetstream.MsgMetadata, reason string, cause error) {
	dl := &DeadLetter{
		Event:     j.msg.Data(),
		Subject:   j.msg.Subject(),
		StreamSeq: md.Sequence.Stream,
		StoredAt:  md.Timestamp,
		Reason:    reason,
		Error:     cause.Error(),
		Attempts:  md.NumDelivered,
		FailedAt:  time.Now().UTC(),
		ID:        fmt.Sprintf("seq-%d", md.Sequence.Stream),
	}
	if j.ev != nil {
		dl.ID, dl.Platform, dl.Action, dl.ChatID = j.ev.ID, j.ev.Platform, j.ev.Action, j.ev.ChatID
	}
	var pe *PermanentError
	if errors.As(cause, &pe) {
		dl.Cause = pe.Reason
	}
	var ae *ActionError
	if errors.As(cause, &ae) {
		dl.Rule, dl.Operation = ae.Rule, ae.Action
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := r.logger.With(zap.String("event_id", dl.ID), zap.String("platform", dl.Platform),
		zap.String("action", dl.Action), zap.String("chat_id", dl.ChatID))
	if err := r.dlq.DeadLetter(ctx, dl); err != nil {
		log.Error("storing dead letter failed; the event will be retried", zap.Error(err))
		_ = j.msg.NakWithDelay(r.backoff.Delay(1, 0))
		return
	}
	if err := j.msg.TermWithReason(reason); err != nil {
		log.Warn("terminating dead-lettered event failed; a redelivery will dead-letter it again (deduplicated)", zap.Error(err))
	}
	platform := dl.Platform
	if platform == "" {
		platform = "unknown"
	}
	r.metrics.DeadLetters.WithLabelValues(platform, reason).Inc()
	r.metrics.EventsProcessed.WithLabelValues(platform, dl.Action, metrics.OutcomeDeadLetter).Inc()
	log.Warn("event dead-lettered", zap.String("reason", reason), zap.String("error", dl.Error))
}
