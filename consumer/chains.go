package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
}

// errOwnershipLost cancels a handler whose event this replica may have lost
// to another replica (see Runner.lost).
var errOwnershipLost = errors.New("this worker may have lost the event to another replica")

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
	if j.part.pinGen() != j.pinGen {
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
