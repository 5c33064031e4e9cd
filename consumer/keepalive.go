package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

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
		r.forgetApplied(sent)
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
				received := p.received()
				if info, err := p.c.Info(ctx); err == nil && p.observe(sent, received, info) {
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
