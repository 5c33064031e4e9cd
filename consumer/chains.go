package consumer

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chatwarden/chatwarden/event"
)

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
	// holdsSlot: j's chain holds a concurrency slot for it (see
	// Runner.freeSlot). Only that chain reads and writes it.
	holdsSlot bool
}

// freeSlot gives back the concurrency slot j's chain took for it, once.
// process calls it when only the broker's confirmation of j's ack is left
// to wait for: that wait holds the chat's next event, not a slot other
// chats' handlers could use.
func (r *Runner) freeSlot(j *job) {
	if j.holdsSlot {
		j.holdsSlot = false
		<-r.sem
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
		j.part.finished(j)
	}
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
		select {
		case r.idle <- key:
		default:
			go r.chainer(key)
		}
	}
}

// chainerIdle is how long a goroutine that ran a chain waits for the next.
const chainerIdle = 10 * time.Second

// chainer runs the chain of key, then the chains dispatch hands it (see
// r.idle) until none came for chainerIdle. Reusing the goroutines spares
// each chain growing a fresh stack to the handler's depth (the runtime's
// newstack and copystack were ~5% of serve's CPU at saturation with one
// goroutine per chain).
func (r *Runner) chainer(key string) {
	idle := time.NewTimer(chainerIdle)
	defer idle.Stop()
	for {
		r.chain(key)
		idle.Reset(chainerIdle)
		select {
		case key = <-r.idle:
		case <-idle.C:
			return
		case <-r.workCtx.Done():
			return
		}
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
		j.holdsSlot = true
		lost := r.lost(j)
		if lost == "" {
			lost = r.process(j)
		}
		r.freeSlot(j)
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
