package consumer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

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
	chats    map[string][]*job // present = a chain runs for the chat; value = its jobs, the first one current
	wg       sync.WaitGroup
	workCtx  context.Context
	hardStop context.CancelFunc
	parts    []*partition
	pullOpts []jetstream.PullConsumeOpt
	stopOnce sync.Once

	lastPullErr time.Time // guarded by mu
	bal         *balancer // nil: no balancing
	waits       outageWaits
}

// probe asks every partition's consumer for its info every quarter of the
// ack wait, so that each partition knows how far the broker had delivered
// at recent times (see partition.observe).
func (r *Runner) probe() {
	t := time.NewTicker(max(r.ackWait/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-r.workCtx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(r.workCtx, r.ackWait/3)
		var wg sync.WaitGroup
		for _, p := range r.parts {
			wg.Go(func() {
				sent := time.Now()
				if info, err := p.c.Info(ctx); err == nil {
					p.observe(sent, info)
				}
			})
		}
		wg.Wait()
		cancel()
	}
}

type job struct {
	part    *partition // where it came from
	msg     jetstream.Msg
	md      *jetstream.MsgMetadata // nil when the message has none
	ev      *event.Event
	err     error // decoding error
	settled bool  // no longer counted as running by its partition

	pinGen int                     // the partition's pinGen when it was received (or handed over after a hold)
	alive  atomic.Int64            // unix ns: since when the broker surely counts it as this replica's (see Runner.lost)
	stop   context.CancelCauseFunc // while it is handled: cancels the handler's context (guarded by Runner.mu)
}

// errOwnershipLost cancels a handler whose event this replica may have lost
// to another replica (see Runner.lost).
var errOwnershipLost = errors.New("this worker may have lost the event to another replica")

// newJob is msg as received by partition p at its pin generation pinGen;
// p.mu is held. It is surely this replica's since the broker delivered it,
// which is not when it is received: it may have been sent into a connection
// that stalled (a partition), or waited in the client while deliveries were
// held up, and arrive after the broker gave it to another replica. So it
// counts from the last time the broker was seen not to have delivered it
// yet (see partition.observe).
func newJob(p *partition, msg jetstream.Msg, md *jetstream.MsgMetadata, pinGen int) *job {
	j := &job{part: p, msg: msg, md: md, pinGen: pinGen}
	if md != nil {
		j.alive.Store(p.notDeliveredAt(md.Sequence.Consumer).UnixNano())
	}
	return j
}

// confirm records that a keepalive sent at sent reached the broker by
// done (a round trip after it was answered then). It counts only when done
// is within limit of the time the event was last surely this replica's:
// a keepalive that arrives later (sent into a broken connection, delivered
// once it heals) comes after the broker may have given the event to
// another replica, and does not make it this replica's again.
func (j *job) confirm(sent, done time.Time, limit time.Duration) {
	for {
		old := j.alive.Load()
		if sent.UnixNano() <= old || done.Sub(time.Unix(0, old)) > limit || j.alive.CompareAndSwap(old, sent.UnixNano()) {
			return
		}
	}
}

// settle stops counting j as running at its partition. It is called just
// before the broker is told that j is done or handed back (and at the
// latest once it ran): a partition holding deliveries then counts j as
// pending elsewhere until the broker's count drops, so it waits a little
// longer rather than releasing what it holds too early. Only the chain
// running j calls it.
func (j *job) settle() {
	if !j.settled {
		j.settled = true
		j.part.finished()
	}
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
	r.pullOpts = []jetstream.PullConsumeOpt{jetstream.PullMaxMessages(batch), jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(r.pullError)}
	if r.group != "" {
		r.pullOpts = append(r.pullOpts, jetstream.PullPriorityGroup(r.group))
	}
	r.workCtx, r.hardStop = context.WithCancel(context.Background())
	for _, c := range r.cons {
		// The consumer was just looked up: it had delivered so far.
		p := &partition{r: r, c: c, name: c.CachedInfo().Name, seen: []seen{{sent: time.Now(), delivered: c.CachedInfo().Delivered.Consumer}}}
		if err := p.consume(); err != nil {
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

// partition pulls one partition's consumer.
//
// When deliveries are lost on their way (see gapGuard) it holds what it
// receives from the gap on until the lost deliveries are back (the broker
// redelivers them once their ack wait runs out), then hands what it held
// over in stream order: the hold of a takeover, below.
//
// When it takes the partition over (its first delivery, or a new pin from
// the broker), events delivered before may still be pending elsewhere: at a
// replica that died (the broker redelivers them once their ack wait runs
// out, in the order the waits ran out, which is not stream order when some
// were kept alive longer), or at one still working that lost the pin when a
// broker node failed over. So it holds what it receives until no event of
// the partition is pending anywhere else, then hands what it held over in
// stream order.
type partition struct {
	r    *Runner
	c    jetstream.Consumer
	name string

	order sync.Mutex // held while deciding about and handing over deliveries

	mu       sync.Mutex
	gen      int // deliveries to an earlier generation's callback are ignored
	cc       jetstream.ConsumeContext
	closed   []<-chan struct{} // of every consume context started
	guard    gapGuard
	resume   *time.Timer
	paused   bool // not pulling: released to balance
	stopped  bool
	started  bool   // the generation received a delivery
	pin      string // the broker's pin id on the last delivery
	pinGen   int    // counts the times this replica learnt that the broker pinned another replica
	seen     []seen // the last answers of the consumer's info, in the order asked
	holding  bool   // a takeover: holding deliveries until no other is pending
	held     []*job
	inflight int // handed over and not finished
}

// seen is what an answer of the consumer's info to a request sent at sent
// said: the broker had delivered up to consumer sequence delivered.
type seen struct {
	sent      time.Time
	delivered uint64
}

// seenKept is how many answers a partition keeps: at one every quarter of
// the ack wait or more often, enough to date deliveries of the last two
// ack waits.
const seenKept = 32

// observe records that the consumer's info, asked at sent, answered info.
func (p *partition) observe(sent time.Time, info *jetstream.ConsumerInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, seen{sent: sent, delivered: info.Delivered.Consumer})
	if len(p.seen) > seenKept {
		p.seen = p.seen[len(p.seen)-seenKept:]
	}
}

// notDeliveredAt is the last time the broker was seen not to have made the
// delivery with consumer sequence seq yet (the zero time when it was not):
// the broker delivered it later; p.mu is held.
func (p *partition) notDeliveredAt(seq uint64) time.Time {
	var at time.Time
	for _, s := range p.seen {
		if s.delivered < seq && s.sent.After(at) {
			at = s.sent
		}
	}
	return at
}

// Takeover holding: how often the consumer's pending count is checked, and
// how long an unpinned consumer (no priority group: no ordering across
// replicas is promised) holds at most.
const (
	takeoverPoll      = 200 * time.Millisecond
	unpinnedHoldLimit = 2 * time.Second
)

// consume starts pulling as generation p.gen; p.mu is held or p is not
// shared yet.
func (p *partition) consume() error {
	gen := p.gen
	p.started, p.holding, p.held = false, false, nil
	cc, err := p.c.Consume(func(msg jetstream.Msg) { p.deliver(gen, msg) }, p.r.pullOpts...)
	if err != nil {
		return err
	}
	p.cc = cc
	p.closed = append(p.closed, cc.Closed())
	return nil
}

// unpinnedGapHoldLimit is how long a partition without a pin (no priority
// group: other replicas' deliveries count as pending too) holds deliveries
// after a gap at most: the lost ones are redelivered one ack wait after
// they were sent, within pullExpiry of the gap.
func (r *Runner) unpinnedGapHoldLimit() time.Duration { return pullExpiry + r.ackWait + time.Second }

func (p *partition) deliver(gen int, msg jetstream.Msg) {
	r := p.r
	p.order.Lock()
	defer p.order.Unlock()
	p.mu.Lock()
	if gen != p.gen || p.stopped {
		p.mu.Unlock()
		return // left unacknowledged: redelivered after the ack wait
	}
	md, err := msg.Metadata()
	if err != nil {
		p.inflight++
		p.mu.Unlock()
		r.dispatch(newJob(p, msg, nil, 0)) // process terminates it
		return
	}
	pin := msg.Headers().Get(pinIDHeader)
	if lost := p.guard.observe(md.Sequence.Consumer); lost > 0 {
		if p.paused {
			// Released to balance and draining: ignore the rest, it is
			// redelivered (to whichever replica holds the pin next).
			p.gen++
			p.holding, p.held = false, nil
			p.mu.Unlock()
			return
		}
		r.metrics.DeliveryGaps.Inc()
		r.logger.Warn("deliveries lost on their way to this worker; holding the partition's later events until the broker redelivers them, so no chat's later event overtakes them",
			zap.String("consumer", p.name), zap.Uint64("lost", lost), zap.Uint64("consumer_seq", md.Sequence.Consumer))
		p.started, p.pin = true, pin
		if !p.holding {
			p.holding = true
			limit := time.Duration(0)
			if pin == "" {
				limit = r.unpinnedGapHoldLimit()
			}
			go p.awaitTakeover(gen, limit)
		}
	}
	if !p.started || pin != p.pin {
		p.started, p.pin = true, pin
		if !p.holding {
			p.holding = true
			limit := time.Duration(0)
			if pin == "" {
				limit = unpinnedHoldLimit
			}
			go p.awaitTakeover(gen, limit)
		}
	}
	j := newJob(p, msg, md, p.pinGen)
	if p.holding {
		p.held = append(p.held, j)
		p.mu.Unlock()
		return
	}
	p.inflight++
	p.mu.Unlock()
	r.dispatch(j)
}

// pinIDHeader is the header in which the broker names the pinned client.
const pinIDHeader = "Nats-Pin-Id"

// awaitTakeover ends a holding (a takeover's, or after a gap) once no event
// of the partition is pending anywhere else (the consumer's pending count is
// what this replica holds and runs), or after limit when it is not 0, and
// hands the held deliveries over in stream order.
func (p *partition) awaitTakeover(gen int, limit time.Duration) {
	r := p.r
	start, lastLog, lastAlive := time.Now(), time.Now(), time.Now()
	// waited: a poll found events pending elsewhere (or could not count
	// them), so the hold did wait for something.
	waited := false
	// kept: the held events last kept alive, at keptAt; the next count the
	// broker answers confirms that the keepalives reached it.
	var kept []*job
	var keptAt time.Time
	for {
		select {
		case <-r.workCtx.Done():
			return
		case <-time.After(takeoverPoll):
		}
		ctx, cancel := context.WithTimeout(r.workCtx, 2*time.Second)
		// Deliveries wait while the count is read, so none arrives
		// between the broker's count and ours.
		p.order.Lock()
		asked := time.Now()
		info, err := p.c.Info(ctx)
		cancel()
		if err == nil {
			p.observe(asked, info)
		}
		p.mu.Lock()
		if gen != p.gen || p.stopped || !p.holding {
			p.mu.Unlock()
			p.order.Unlock()
			return
		}
		others := -1
		if err == nil {
			done := time.Now()
			for _, j := range kept {
				j.confirm(keptAt, done, r.ownershipLimit())
			}
			kept = nil
			others = info.NumAckPending - len(p.held) - p.inflight
			if pinned := pinnedClient(info, r.group); p.pin != "" && pinned != "" && pinned != p.pin {
				// The broker pinned the partition to another replica
				// meanwhile (a consumer leader change can do that without
				// a word to this one): that replica holds until nothing
				// is pending here, so what is held here must go back, or
				// both would wait for each other forever. The next
				// delivery here, if any, starts a new hold.
				held := p.takeHeld()
				p.started = false
				p.pinGen++ // what this replica still runs of the partition is not its own any more
				p.mu.Unlock()
				p.order.Unlock()
				r.logger.Warn("the partition is pinned to another replica now: handing the held events back for the broker to redeliver there",
					zap.String("consumer", p.name), zap.Int("events", len(held)))
				for _, j := range held {
					_ = j.msg.Nak()
				}
				return
			}
		}
		if others <= 0 && err == nil || limit > 0 && time.Since(start) > limit {
			held := p.takeHeld()
			p.inflight += len(held)
			for _, j := range held {
				j.pinGen = p.pinGen // nothing of the partition is pending elsewhere: they are this pin's
			}
			p.mu.Unlock()
			// At info only when the hold waited for something: the first
			// delivery of every partition is held for one check that
			// nothing is pending elsewhere, which is routine (debug).
			level := zap.DebugLevel
			if waited || time.Since(start) > time.Second {
				level = zap.InfoLevel
			}
			if ce := r.logger.Check(level, "holding ended: handing the partition's held events over in stream order"); ce != nil {
				ce.Write(zap.String("consumer", p.name), zap.Int("events", len(held)),
					zap.Duration("waited", time.Since(start).Round(time.Millisecond)))
			}
			for _, j := range held {
				r.dispatch(j)
			}
			p.order.Unlock()
			return
		}
		waited = true
		var keep []*job
		if time.Since(lastAlive) > r.ackWait/3 {
			keep, lastAlive = append(keep, p.held...), time.Now()
		}
		p.mu.Unlock()
		p.order.Unlock()
		if keep != nil {
			kept, keptAt = keep, time.Now()
		}
		for _, j := range keep {
			_ = j.msg.InProgress()
		}
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			r.logger.Warn("holding the partition's events: waiting for events delivered elsewhere (another replica, or lost on the way) to be acknowledged, given up or redelivered",
				zap.String("consumer", p.name), zap.Int("pending_elsewhere", others), zap.Error(err),
				zap.Duration("waited", time.Since(start).Round(time.Second)))
		}
	}
}

// takeHeld ends the holding and returns what was held in stream order;
// p.mu is held.
func (p *partition) takeHeld() []*job {
	p.holding = false
	held := p.held
	p.held = nil
	slices.SortFunc(held, func(a, b *job) int { return cmp.Compare(a.md.Sequence.Stream, b.md.Sequence.Stream) })
	return held
}

// noticePin records that the broker has pinned the partition to pinned: when
// that is another replica (and not because this one released it to
// balance), what this replica still holds of it was received under a pin it
// lost.
func (p *partition) noticePin(pinned string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pinned != "" && p.pin != "" && pinned != p.pin && !p.paused && !p.stopped {
		p.pinGen++
	}
}

// holdAfterLoss makes the partition hold what it receives, as after a gap,
// until no event of it is pending anywhere else (the events left
// unacknowledged by abandon among them).
// p.order is held.
func (p *partition) holdAfterLoss() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.holding {
		return
	}
	p.holding = true
	limit := time.Duration(0)
	if p.pin == "" {
		limit = p.r.unpinnedGapHoldLimit()
	}
	go p.awaitTakeover(p.gen, limit)
}

// finished is called (through job.settle) when an event handed over is about
// to be acknowledged, dead-lettered or handed back.
func (p *partition) finished() {
	p.mu.Lock()
	p.inflight--
	p.mu.Unlock()
}

// restart pulls again after a pause (retrying every few seconds if the
// broker cannot be reached).
func (p *partition) restart() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.guard.last = 0
	p.paused = false
	if err := p.consume(); err != nil {
		p.r.logger.Warn("pulling again after a pause failed; retrying", zap.String("consumer", p.name), zap.Error(err))
		p.resume = time.AfterFunc(2*time.Second, p.restart)
		return
	}
	p.r.logger.Info("pulling again after a pause", zap.String("consumer", p.name))
}

// stop drains the partition's pulling and returns channels closed once every
// delivery to it was handed over.
func (p *partition) stop() []<-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	if p.resume != nil {
		p.resume.Stop()
	}
	if p.cc != nil {
		p.cc.Drain()
	}
	return p.closed
}

// dispatch queues msg behind its chat's earlier events, or starts a chain
// for the chat. It never waits: every event received is in r.chats at once,
// where keepAlive keeps it from being given up while it waits.
func (r *Runner) dispatch(j *job) {
	j.ev, j.err = event.Unmarshal(j.msg.Data())
	key := "?undecodable"
	if j.err == nil {
		key = j.ev.Key()
	}
	r.mu.Lock()
	q, busy := r.chats[key]
	r.chats[key] = append(q, j)
	r.mu.Unlock()
	if !busy {
		r.wg.Add(1)
		go r.chain(key)
	}
}

// chain handles the chat's events one after the other, each once a slot of
// the concurrency limit is free, until none is left.
func (r *Runner) chain(key string) {
	defer r.wg.Done()
	for {
		r.mu.Lock()
		j := r.chats[key][0]
		r.mu.Unlock()
		r.sem <- struct{}{}
		lost := r.lost(j)
		if lost == "" {
			lost = r.process(j)
		}
		<-r.sem
		if lost != "" {
			r.abandon(key, lost)
			return
		}
		j.settle()
		r.mu.Lock()
		q := r.chats[key][1:]
		if len(q) == 0 {
			delete(r.chats, key)
			r.mu.Unlock()
			return
		}
		r.chats[key] = q
		r.mu.Unlock()
	}
}

// keepAlive tells JetStream every third of the ack wait that the events this
// replica holds (running, waiting for a slot, or behind an earlier event of
// their chat) are in progress, each chat's in the order they came; then it
// asks each of their partitions' consumers for its info, a round trip to the
// broker after the keepalives: when it answers, they reached the broker, and
// the events are surely this replica's for one more ack wait (see lost).
func (r *Runner) keepAlive() {
	t := time.NewTicker(r.ackWait / 3)
	defer t.Stop()
	for {
		select {
		case <-r.workCtx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		byPart := map[*partition][]*job{}
		r.mu.Lock()
		for _, q := range r.chats {
			for _, j := range q {
				_ = j.msg.InProgress()
				byPart[j.part] = append(byPart[j.part], j)
			}
		}
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(r.workCtx, r.ackWait/3)
		var wg sync.WaitGroup
		for p, jobs := range byPart {
			wg.Go(func() {
				if info, err := p.c.Info(ctx); err == nil {
					p.observe(sent, info)
					p.noticePin(pinnedClient(info, r.group))
					done := time.Now()
					for _, j := range jobs {
						j.confirm(sent, done, r.ownershipLimit())
					}
				}
			})
		}
		wg.Wait()
		cancel()
		r.mu.Lock()
		for _, q := range r.chats {
			if j := q[0]; j.stop != nil && r.lost(j) != "" {
				j.stop(errOwnershipLost)
			}
		}
		r.mu.Unlock()
	}
}

// lost says why this replica may no longer act on j ("" when it may): the
// broker may have given it to another replica because no keepalive of it
// was confirmed for three quarters of the ack wait (this replica is cut off
// from the broker, or too slow to keep it alive), or the partition was
// pinned to another replica since it was received. In doubt it does not act: the broker
// redelivers the event after the ack wait, to the partition's owner.
func (r *Runner) lost(j *job) string {
	if j.md == nil || j.err != nil {
		return "" // terminated or dead-lettered without acting
	}
	if age := time.Since(time.Unix(0, j.alive.Load())); age > r.ownershipLimit() {
		return fmt.Sprintf("no keepalive of it confirmed by the broker for %s (workers.ack_wait %s)", age.Round(time.Millisecond), r.ackWait)
	}
	p := j.part
	p.mu.Lock()
	moved := p.pinGen != j.pinGen
	p.mu.Unlock()
	if moved {
		return "the broker pinned the partition to another replica since it was received"
	}
	return ""
}

// ownershipLimit is how long after the broker last surely counted an event
// as this replica's the replica still acts on it: three quarters of the ack
// wait, leaving a quarter for the event to start and the next keepalive to
// arrive.
func (r *Runner) ownershipLimit() time.Duration { return r.ackWait - r.ackWait/4 }

// abandon drops the chat's queued events without acknowledging them (the
// first one, whose ownership is in doubt for the reason why, and every one
// behind it), and holds their partitions' later events as after a gap, so
// that none of the chat's later events overtakes their redeliveries. A
// chat's events all come from one partition.
func (r *Runner) abandon(key, why string) {
	r.mu.Lock()
	p := r.chats[key][0].part // a chat's events all come from one partition
	r.mu.Unlock()
	// Holding, dropping and settling happen while no delivery is handed
	// over and no hold counts what is pending: a hold counting the dropped
	// events as running here would end too early.
	p.order.Lock()
	p.holdAfterLoss()
	r.mu.Lock()
	q := r.chats[key] // with what was dispatched meanwhile
	delete(r.chats, key)
	r.mu.Unlock()
	for _, j := range q {
		j.settle()
	}
	p.order.Unlock()
	ev := q[0].ev
	if ce := r.logger.Check(zapcore.WarnLevel, "this worker may have lost the chat's events to another replica: leaving them unacknowledged for the broker to redeliver to the partition's owner, and holding the partition's later events"); ce != nil {
		fields := []zap.Field{zap.String("consumer", q[0].part.name), zap.String("reason", why), zap.Int("events", len(q))}
		if ev != nil {
			fields = append(fields, zap.String("event_id", ev.ID), zap.String("platform", ev.Platform), zap.String("chat_id", ev.ChatID))
		}
		ce.Write(fields...)
	}
}

// process handles j: acknowledging, dead-lettering or handing it back. It
// returns why it left j alone instead (see lost), "" when it did not.
func (r *Runner) process(j *job) (lost string) {
	var err error
	md := j.md // parsed on delivery
	if md == nil {
		md, err = j.msg.Metadata()
	}
	if err != nil {
		r.logger.Error("message without JetStream metadata; terminating it", zap.String("subject", j.msg.Subject()), zap.Error(err))
		j.settle()
		_ = j.msg.Term()
		return
	}
	if j.err != nil {
		r.deadLetter(j, md, ReasonUndecodable, j.err)
		return
	}
	ev := j.ev
	if r.waits.behind(ev.Key()) {
		// Stopping: an earlier event of the chat waiting for its platform
		// was handed back; this one goes back behind it.
		j.settle()
		_ = j.msg.Nak()
		return
	}
	delivery := md.NumDelivered
	// log writes a line about this event; its fields are only built when
	// the line is (most events log nothing).
	log := func(level zapcore.Level, msg string, fields ...zap.Field) {
		if ce := r.logger.Check(level, msg); ce != nil {
			ce.Write(append([]zap.Field{zap.String("event_id", ev.ID), zap.String("platform", ev.Platform),
				zap.String("action", ev.Action), zap.String("chat_id", ev.ChatID), zap.Uint64("delivery", delivery)}, fields...)...)
		}
	}
	if md.NumDelivered > r.maxAttempts {
		r.deadLetter(j, md, ReasonExhausted, fmt.Errorf(
			"delivered %d times, more than workers.max_attempts=%d (an earlier attempt crashed or timed out)",
			md.NumDelivered, r.maxAttempts))
		return
	}

	// The span name takes bounded labels (tracing backends index names);
	// the attributes name the event.
	ctx, span := tracing.Tracer().Start(tracing.Extract(r.workCtx, j.msg.Headers()),
		"process "+event.PlatformLabel(ev.Platform)+"."+event.ActionLabel(ev.Platform, ev.Action),
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attribute.String("chatwarden.event_id", ev.ID),
			attribute.String("chatwarden.chat_id", ev.ChatID), attribute.Int64("chatwarden.delivery", int64(md.NumDelivered))))
	defer span.End()
	ctx, stop := context.WithCancelCause(ctx)
	r.mu.Lock()
	j.stop = stop
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		j.stop = nil
		r.mu.Unlock()
		stop(nil)
	}()
	// waits counts the tries after a wait for an unavailable platform,
	// which spend no attempt but may repeat a call that reached it: the
	// handler sees attempt+waits, so that a non-idempotent action checks
	// whether it already took effect.
	var waits uint64
	for attempt := md.NumDelivered; ; attempt++ {
		err = r.handler.Handle(WithAttempt(ctx, attempt+waits), ev)
		if err != nil && context.Cause(ctx) == errOwnershipLost {
			return cmp.Or(r.lost(j), errOwnershipLost.Error())
		}
		if err != nil {
			span.AddEvent("attempt failed", trace.WithAttributes(attribute.Int64("attempt", int64(attempt)), attribute.String("error", err.Error())))
		}
		if w, ok := waiter(err); ok {
			// The platform is unavailable: wait for it without spending
			// an attempt (the same attempt runs again).
			log(zapcore.DebugLevel, "platform unavailable; the event waits, its attempts not spent", zap.Error(err))
			r.metrics.EventsProcessed.WithLabelValues(event.PlatformLabel(ev.Platform), event.ActionLabel(ev.Platform, ev.Action), metrics.OutcomeWait).Inc()
			if !r.waitOutage(w.Ready()) {
				r.waits.handBack(ev.Key())
				j.settle()
				_ = j.msg.Nak()
				return
			}
			if why := r.lost(j); why != "" {
				return why
			}
			attempt--
			waits++
			continue
		}
		permanent, hint := Classify(err)
		switch {
		case err == nil:
			j.settle()
			confirmed := r.ack(j.msg, log)
			r.metrics.EventsProcessed.WithLabelValues(event.PlatformLabel(ev.Platform), event.ActionLabel(ev.Platform, ev.Action), metrics.OutcomeAck).Inc()
			if !confirmed && r.workCtx.Err() == nil {
				// It may come back: the chat's later events wait for
				// that, left to their redelivery behind it.
				return "the acknowledgement of the chat's previous event was not confirmed"
			}
			return
		case permanent:
			log(zapcore.WarnLevel, "permanent failure; dead-lettering the event", zap.Error(err))
			md.NumDelivered = attempt
			r.deadLetter(j, md, ReasonPermanent, err)
			return
		case attempt >= r.maxAttempts:
			log(zapcore.WarnLevel, "attempts exhausted; dead-lettering the event", zap.Error(err))
			md.NumDelivered = attempt
			r.deadLetter(j, md, ReasonExhausted, err)
			return
		case r.workCtx.Err() != nil:
			// Shutting down: leave it for redelivery without counting a failure.
			j.settle()
			_ = j.msg.Nak()
			return
		}
		delay := r.backoff.Delay(attempt, hint)
		log(zapcore.InfoLevel, "retryable failure; retrying in place, later events of this chat wait",
			zap.Duration("delay", delay), zap.Uint64("attempt", attempt), zap.Error(err))
		r.metrics.Retries.WithLabelValues(event.PlatformLabel(ev.Platform)).Inc()
		r.metrics.EventsProcessed.WithLabelValues(event.PlatformLabel(ev.Platform), event.ActionLabel(ev.Platform, ev.Action), metrics.OutcomeRetry).Inc()
		select {
		case <-time.After(delay):
		case <-r.workCtx.Done():
			j.settle()
			_ = j.msg.Nak()
			return
		}
		if why := r.lost(j); why != "" {
			return why
		}
	}
}

// Acknowledgement confirmation: how long to wait for the broker's
// confirmation of an ack, and how many times to send it.
const (
	ackConfirmTimeout = 3 * time.Second
	ackAttempts       = 4
)

// ack acknowledges msg and waits for the broker to confirm it, sending it
// again when no confirmation comes (a broker node failing over). The chat's
// next event waits meanwhile: an unconfirmed ack that was lost would have the
// event redelivered after later events of its chat were applied. If no
// confirmation comes after ackAttempts, the event may be redelivered and
// handled again, which rules tolerate (idempotent actions repeat harmlessly,
// others are recorded in CHATWARDEN_DONE and skipped); ack reports false
// then, and the chat's later events are left to their redelivery (see
// abandon), so that they do not run before it.
func (r *Runner) ack(msg jetstream.Msg, log func(zapcore.Level, string, ...zap.Field)) (confirmed bool) {
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), ackConfirmTimeout)
		err := msg.DoubleAck(ctx)
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			return true
		}
		if attempt == ackAttempts || r.workCtx.Err() != nil {
			log(zapcore.WarnLevel, "acknowledging event not confirmed; it may be redelivered and handled again, so the chat's later events wait for their redelivery",
				zap.Int("attempts", attempt), zap.Error(err))
			return false
		}
		select {
		case <-time.After(time.Duration(attempt) * 250 * time.Millisecond):
		case <-r.workCtx.Done():
		}
	}
}

// storedEventJSON is the JSON of a stored event for its dead letter: the
// event decompressed, or, when the message is not a readable event at all,
// its bytes as a JSON string.
func storedEventJSON(stored []byte) json.RawMessage {
	if b, err := event.JSON(stored); err == nil && json.Valid(b) {
		return b
	}
	b, _ := json.Marshal(strings.ToValidUTF8(string(stored), "\uFFFD"))
	return b
}

// deadLetter stores the event in the dead-letter stream and terminates it.
// If storing fails because the broker is unavailable, it is retried in
// place (and handed back for redelivery on shutdown). If the sink refuses
// the dead letter for a reason tied to the event (ErrDeadLetterRefused:
// neither the full nor the reduced dead letter can be stored), the event is
// terminated with an error log, so that it cannot hold its chat forever.
func (r *Runner) deadLetter(j *job, md *jetstream.MsgMetadata, reason string, cause error) {
	dl := &DeadLetter{
		Event:     storedEventJSON(j.msg.Data()),
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
	dl.Outage = reason == ReasonExhausted && isOutage(cause)
	dl.AutoRetries = autoRetries(j.msg)
	log := r.logger.With(zap.String("event_id", dl.ID), zap.String("platform", dl.Platform),
		zap.String("action", dl.Action), zap.String("chat_id", dl.ChatID))
	// Storing is retried in place, so the chat's later events keep waiting
	// behind this one; only a shutdown hands it back for redelivery.
	for attempt := uint64(1); ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := r.dlq.DeadLetter(ctx, dl)
		cancel()
		if err == nil {
			break
		}
		if errors.Is(err, ErrDeadLetterRefused) {
			// Retrying would fail the same way: the event must not hold its
			// chat forever. It stays in the events stream (retention).
			j.settle()
			if terr := j.msg.TermWithReason(reason + "; dead letter refused"); terr != nil {
				log.Warn("terminating an event whose dead letter was refused failed; a redelivery will try again", zap.Error(terr))
			}
			r.metrics.EventsProcessed.WithLabelValues(event.PlatformLabel(dl.Platform), event.ActionLabel(dl.Platform, dl.Action), metrics.OutcomeTerminated).Inc()
			log.Error("event given up without a dead letter: the broker refused both the dead letter and a reduced one; it stays in the events stream until its retention ends",
				zap.Uint64("stream_seq", md.Sequence.Stream), zap.String("reason", reason), zap.String("cause", dl.Error), zap.Error(err))
			return
		}
		if r.workCtx.Err() != nil {
			log.Error("storing dead letter failed while stopping; the event will be redelivered", zap.Error(err))
			j.settle()
			_ = j.msg.Nak()
			return
		}
		delay := min(r.backoff.Delay(attempt, 0), r.ackWait/3)
		log.Error("storing dead letter failed; retrying in place, later events of this chat wait",
			zap.Uint64("attempt", attempt), zap.Duration("delay", delay), zap.Error(err))
		_ = j.msg.InProgress()
		select {
		case <-time.After(delay):
		case <-r.workCtx.Done():
		}
	}
	j.settle()
	if err := j.msg.TermWithReason(reason); err != nil {
		log.Warn("terminating dead-lettered event failed; a redelivery will dead-letter it again (deduplicated)", zap.Error(err))
	}
	platform := event.PlatformLabel(dl.Platform)
	if dl.Platform == "" {
		platform = "unknown" // undecodable
	}
	r.metrics.DeadLetters.WithLabelValues(platform, reason).Inc()
	r.metrics.EventsProcessed.WithLabelValues(platform, event.ActionLabel(dl.Platform, dl.Action), metrics.OutcomeDeadLetter).Inc()
	log.Warn("event dead-lettered", zap.String("reason", reason), zap.String("error", dl.Error))
}
