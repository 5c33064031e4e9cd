package consumer

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// partition pulls one partition's consumer and does the I/O that its
// ownership state machine (see ownership, partition.go) decides.
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

	// order is held while deciding about and handing over deliveries, so
	// that a release's held deliveries are dispatched before any later one.
	// It is never held across a broker call.
	order sync.Mutex

	mu     sync.Mutex
	own    *ownership[*job]
	cc     jetstream.ConsumeContext
	closed []<-chan struct{} // of every consume context started
	resume *time.Timer
}

// newPartition is the partition of consumer c, as just looked up.
func newPartition(r *Runner, c jetstream.Consumer) *partition {
	info := c.CachedInfo()
	// The consumer was just looked up: it had delivered so far.
	return &partition{r: r, c: c, name: info.Name, own: newOwnership[*job](r.ackWait, time.Now(), info.Delivered.Consumer)}
}

// probe asks every partition's consumer for its info every quarter of the
// ack wait, so that each partition knows how far the broker had delivered
// at recent times (see ownership.notDeliveredAt).
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
				sent, received := time.Now(), p.received()
				if info, err := p.c.Info(ctx); err == nil {
					p.observe(sent, received, info)
				}
			})
		}
		wg.Wait()
		cancel()
	}
}

// received is the consumer sequence of the last delivery received (see
// ownership.received): asked before a call of the consumer's info, it tells
// whether the answer is current (see answer.current).
func (p *partition) received() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.own.received()
}

// observe records that the consumer's info, asked at sent when the last
// delivery received had consumer sequence received, answered info, and
// reports whether the answer is current (see answer.current); a stale one
// is ignored, and the caller must not act on it either.
func (p *partition) observe(sent time.Time, received uint64, info *jetstream.ConsumerInfo) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.own.observe(sent, info.Delivered.Consumer, received)
	return answer{ok: true, delivered: info.Delivered.Consumer, received: received}.current()
}

// consume starts pulling as the generation gen; p.mu is held or p is not
// shared yet.
func (p *partition) consume(gen int) error {
	cc, err := p.c.Consume(func(msg jetstream.Msg) { p.deliver(gen, msg) }, p.r.pullOpts...)
	if err != nil {
		return err
	}
	p.cc = cc
	p.closed = append(p.closed, cc.Closed())
	return nil
}

// pinIDHeader is the header in which the broker names the pinned client.
const pinIDHeader = "Nats-Pin-Id"

func (p *partition) deliver(gen int, msg jetstream.Msg) {
	r := p.r
	p.order.Lock()
	defer p.order.Unlock()
	md, err := msg.Metadata()
	p.mu.Lock()
	if err != nil {
		if gen != p.own.gen || p.own.stopped {
			p.mu.Unlock()
			return // left unacknowledged: redelivered after the ack wait
		}
		p.own.receiveUnreadable()
		p.mu.Unlock()
		r.dispatch(&job{part: p, msg: msg}) // process terminates it
		return
	}
	j := &job{part: p, msg: msg, md: md}
	// It is surely this replica's since the broker delivered it, which is
	// not when it is received: it may have been sent into a connection that
	// stalled (a partition), or waited in the client while deliveries were
	// held up, and arrive after the broker gave it to another replica. So
	// it counts from the last time the broker was seen not to have
	// delivered it yet.
	j.alive.Store(p.own.notDeliveredAt(md.Sequence.Consumer).UnixNano())
	pin := msg.Headers().Get(pinIDHeader)
	rc := p.own.receive(gen, time.Now(), delivery{consumerSeq: md.Sequence.Consumer, streamSeq: md.Sequence.Stream, pin: pin}, j)
	j.pinGen = rc.pinGen
	p.mu.Unlock()
	if rc.gap > 0 {
		r.metrics.DeliveryGaps.Inc()
		r.logger.Warn("deliveries lost on their way to this worker; holding the partition's later events until the broker redelivers them, so no chat's later event overtakes them",
			zap.String("consumer", p.name), zap.Uint64("lost", rc.gap), zap.Uint64("consumer_seq", md.Sequence.Consumer))
	}
	if rc.startHold != 0 {
		go p.awaitHold(rc.startHold)
	}
	if rc.action == receiveDispatch {
		r.dispatch(j)
	}
}

// awaitHold polls the consumer's info for hold id (a takeover's, or after a
// gap) every takeoverPoll and does what the ownership decides: go on
// holding (keeping the held deliveries alive), hand them over in stream
// order, or hand them back to the broker.
func (p *partition) awaitHold(id int) {
	r := p.r
	// kept: the held events last kept alive, at keptAt; the next count the
	// broker answers confirms that the keepalives reached it.
	var kept []*job
	var keptAt time.Time
	staleLogged := false
	for {
		select {
		case <-r.workCtx.Done():
			return
		case <-time.After(takeoverPoll):
		}
		ctx, cancel := context.WithTimeout(r.workCtx, 2*time.Second)
		asked, received := time.Now(), p.received()
		info, err := p.c.Info(ctx)
		cancel()
		a := answer{ok: err == nil, received: received}
		if err == nil {
			a.pending, a.delivered, a.pinned = info.NumAckPending, info.Delivered.Consumer, pinnedClient(info, r.group)
		}
		p.order.Lock()
		p.mu.Lock()
		if err == nil {
			p.own.observe(asked, a.delivered, a.received)
		}
		v := p.own.poll(id, time.Now(), a)
		p.mu.Unlock()
		if v.action == pollStale {
			p.order.Unlock()
			return
		}
		if v.staleAnswer {
			r.metrics.StaleConsumerInfo.Inc()
			level := zap.DebugLevel // logged once a hold
			if !staleLogged {
				staleLogged, level = true, zap.InfoLevel
			}
			r.logger.Log(level, "ignoring a stale answer of the consumer's info (a broker node that restarted answers from its stored state until it hears from the consumer's leader): the hold goes on",
				zap.String("consumer", p.name), zap.Uint64("answer_delivered", a.delivered), zap.Uint64("received", a.received))
		}
		if a.current() {
			done := time.Now()
			for _, j := range kept {
				j.confirm(keptAt, done, r.ownershipLimit())
			}
			kept = nil
		}
		switch v.action {
		case pollHandBack:
			p.order.Unlock()
			r.logger.Warn("the partition is pinned to another replica now: handing the held events back for the broker to redeliver there",
				zap.String("consumer", p.name), zap.Int("events", len(v.items)))
			for _, j := range v.items {
				_ = j.msg.Nak()
			}
			return
		case pollRelease:
			for _, j := range v.items {
				j.pinGen = v.pinGen // nothing of the partition is pending elsewhere: they are this pin's
			}
			// At info only when the hold waited for something: the first
			// delivery of every partition is held for one check that
			// nothing is pending elsewhere, which is routine (debug).
			level := zap.DebugLevel
			if v.waited {
				level = zap.InfoLevel
			}
			if ce := r.logger.Check(level, "holding ended: handing the partition's held events over in stream order"); ce != nil {
				ce.Write(zap.String("consumer", p.name), zap.Int("events", len(v.items)),
					zap.Duration("waited", time.Since(v.since).Round(time.Millisecond)))
			}
			for _, j := range v.items {
				r.dispatch(j)
			}
			p.order.Unlock()
			return
		}
		p.order.Unlock()
		if v.items != nil {
			kept, keptAt = v.items, time.Now()
		}
		for _, j := range v.items {
			_ = j.msg.InProgress()
		}
		if v.logWait {
			r.logger.Warn("holding the partition's events: waiting for events delivered elsewhere (another replica, or lost on the way) to be acknowledged, given up or redelivered",
				zap.String("consumer", p.name), zap.Int("pending_elsewhere", v.others), zap.Error(err),
				zap.Duration("waited", time.Since(v.since).Round(time.Second)))
		}
	}
}

// noticePin records that the broker has pinned the partition to pinned
// (see ownership.noticePin).
func (p *partition) noticePin(pinned string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.own.noticePin(pinned)
}

// holdAfterLoss makes the partition hold what it receives, as after a gap,
// until no event of it is pending anywhere else (the events left
// unacknowledged by abandon among them). p.order is held.
func (p *partition) holdAfterLoss() {
	p.mu.Lock()
	id := p.own.holdAfterLoss(time.Now())
	p.mu.Unlock()
	if id != 0 {
		go p.awaitHold(id)
	}
}

// finished is called (through job.settle) when an event handed over is about
// to be acknowledged, dead-lettered or handed back.
func (p *partition) finished(j *job) {
	var seq uint64 // 0: received without metadata
	if j.md != nil {
		seq = j.md.Sequence.Consumer
	}
	p.mu.Lock()
	p.own.settle(seq)
	p.mu.Unlock()
}

// pinGen is the partition's current pin generation (see Runner.lost).
func (p *partition) pinGen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.own.pinGen
}

// restart pulls again after a pause (retrying every few seconds if the
// broker cannot be reached).
func (p *partition) restart() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.own.stopped {
		return
	}
	if err := p.consume(p.own.resume()); err != nil {
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
	p.own.stop()
	if p.resume != nil {
		p.resume.Stop()
	}
	if p.cc != nil {
		p.cc.Drain()
	}
	return p.closed
}
