package consumer

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/event"
)

// Balancing. The broker pins each partition to whichever replica pulls it
// first, so a replica that starts after the others would get none. With
// balancing, every replica announces itself in a key-value bucket (one key,
// refreshed every heartbeat, expiring when it stops) and, every period, a
// replica that owns more than its fair share (partitions divided by live
// replicas, rounded up) releases one partition: it stops pulling it, lets
// what it received finish, and asks the broker to unpin it, so a replica
// waiting on it gets it; a few seconds later it pulls it again, as a
// stand-by. The new owner's takeover holding (see partition) keeps each
// chat's order across the move.
type balancer struct {
	kv        jetstream.KeyValue
	stream    jetstream.Stream
	every     time.Duration
	heartbeat time.Duration
	key       string
}

// releaseStandby is how long a released partition is not pulled, so that a
// replica already waiting on it is pinned rather than this one again.
const releaseStandby = 3 * time.Second

// WithBalancing balances partitions across the replicas announced in kv
// (see bus.ProvisionWorkersBucket), checking every period (jittered by
// ±25%) and announcing this replica every heartbeat. stream is the events
// stream, whose consumers are unpinned. It needs WithPriorityGroup.
func WithBalancing(kv jetstream.KeyValue, stream jetstream.Stream, every, heartbeat time.Duration) Option {
	return func(r *Runner) error {
		if kv == nil || stream == nil || every <= 0 || heartbeat <= 0 {
			return errors.New("consumer: balancing needs the workers bucket, the events stream and positive periods")
		}
		var id [6]byte
		_, _ = crand.Read(id[:])
		host, _ := os.Hostname()
		r.bal = &balancer{kv: kv, stream: stream, every: every, heartbeat: heartbeat,
			key: "replica-" + hex.EncodeToString(id[:]) + "-" + event.Token(host)}
		return nil
	}
}

// balance runs until the runner stops: announcing this replica, and
// releasing a partition when it owns too many.
func (r *Runner) balance() {
	b := r.bal
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = b.kv.Delete(ctx, b.key) // the others see one replica less at once
	}()
	beat := time.NewTicker(b.heartbeat)
	defer beat.Stop()
	next := time.After(b.jitter())
	r.announce()
	for {
		select {
		case <-r.workCtx.Done():
			return
		case <-beat.C:
			r.announce()
		case <-next:
			next = time.After(b.jitter())
			if err := r.rebalance(); err != nil {
				r.logger.Warn("balancing partitions", zap.Error(err))
			}
		}
	}
}

func (b *balancer) jitter() time.Duration {
	return b.every*3/4 + time.Duration(rand.Int64N(int64(b.every)/2+1))
}

func (r *Runner) announce() {
	ctx, cancel := context.WithTimeout(r.workCtx, 2*time.Second)
	defer cancel()
	if _, err := r.bal.kv.Put(ctx, r.bal.key, []byte(time.Now().UTC().Format(time.RFC3339))); err != nil && r.workCtx.Err() == nil {
		r.logger.Debug("announcing this worker replica", zap.Error(err))
	}
}

// rebalance releases one partition when this replica owns more than its
// share.
func (r *Runner) rebalance() error {
	ctx, cancel := context.WithTimeout(r.workCtx, 5*time.Second)
	defer cancel()
	replicas, err := r.liveReplicas(ctx)
	if err != nil || replicas <= 1 {
		return err
	}
	fair := (len(r.parts) + replicas - 1) / replicas
	var owned []*partition
	for _, p := range r.parts {
		if p.ownedNow(ctx, r.group) {
			owned = append(owned, p)
		}
	}
	if len(owned) <= fair {
		return nil
	}
	victim := owned[rand.IntN(len(owned))]
	r.logger.Info("releasing a partition to balance the worker replicas", zap.String("consumer", victim.name),
		zap.Int("owned", len(owned)), zap.Int("replicas", replicas), zap.Int("fair_share", fair))
	go victim.release(r.bal.stream, r.group)
	return nil
}

func (r *Runner) liveReplicas(ctx context.Context) (int, error) {
	keys, err := r.bal.kv.ListKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("listing the worker replicas in %s: %w", r.bal.kv.Bucket(), err)
	}
	defer func() { _ = keys.Stop() }()
	n := 0
	for range keys.Keys() {
		n++
	}
	return n, nil
}

// ownedNow reports whether this replica holds the partition's pin now: the
// broker's pinned client is the one named on the last delivery here.
func (p *partition) ownedNow(ctx context.Context, group string) bool {
	p.mu.Lock()
	pin, busy := p.own.owner()
	p.mu.Unlock()
	if pin == "" || busy {
		return false
	}
	info, err := p.c.Info(ctx)
	if err != nil {
		return false
	}
	return pinnedClient(info, group) == pin
}

// release stops pulling the partition, lets what was received run, unpins
// it, and pulls it again as a stand-by after releaseStandby.
func (p *partition) release(stream jetstream.Stream, group string) {
	p.mu.Lock()
	if p.own.stopped || p.own.paused || p.cc == nil {
		p.mu.Unlock()
		return
	}
	p.own.pause()
	cc := p.cc
	p.mu.Unlock()
	cc.Drain() // what is buffered is still handed over
	select {
	case <-cc.Closed():
	case <-time.After(pullExpiry + time.Second):
	}
	p.mu.Lock()
	p.own.drained() // anything later to the drained pulls is ignored (and redelivered)
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := stream.UnpinConsumer(ctx, p.name, group)
	cancel()
	if err != nil {
		p.r.logger.Warn("unpinning a released partition", zap.String("consumer", p.name), zap.Error(err))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.own.stopped {
		p.resume = time.AfterFunc(releaseStandby, p.restart)
	}
}

// pinnedClient is the client the broker has pinned group of the consumer to
// ("" when none is pinned, or the consumer has no such group).
func pinnedClient(info *jetstream.ConsumerInfo, group string) string {
	for _, g := range info.PriorityGroups {
		if g.Group == group {
			return g.PinnedClientID
		}
	}
	return ""
}
