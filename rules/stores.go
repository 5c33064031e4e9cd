package rules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/event"
)

// MemoryDoneStore is a DoneStore in memory, for tests and offline runs.
type MemoryDoneStore struct {
	mu   sync.Mutex
	done map[string]bool
}

// NewMemoryDoneStore returns an empty store.
func NewMemoryDoneStore() *MemoryDoneStore { return &MemoryDoneStore{done: map[string]bool{}} }

// IsDone implements DoneStore.
func (m *MemoryDoneStore) IsDone(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.done[key], nil
}

// MarkDone implements DoneStore.
func (m *MemoryDoneStore) MarkDone(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done[key] = true
	return nil
}

// KVDoneStore keeps performed non-idempotent actions in the JetStream
// key-value bucket bus.DoneBucket, shared by every worker replica and kept
// across restarts for the bucket's TTL.
type KVDoneStore struct{ KV jetstream.KeyValue }

// kvKey is the bucket key of a done-store key (event id and step, both
// from the stored event): a hash, so it holds only the characters a
// key-value key allows, has a fixed length (32 hex digits) whatever the
// event holds, and distinct keys stay distinct.
func kvKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

// kvTimeout bounds one request to the bucket: a request in flight when the
// bucket's stream leader fails (a NATS node dies) is never answered, and
// would otherwise hold up its event for as long as the handler's context
// allows. IsDone's caller retries the event; MarkDone's logs the failure.
const kvTimeout = 5 * time.Second

// IsDone implements DoneStore.
func (s KVDoneStore) IsDone(ctx context.Context, key string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, kvTimeout)
	defer cancel()
	_, err := s.KV.Get(ctx, kvKey(key))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("reading %s: %w", bus.DoneBucket, err)
	}
}

// MarkDone implements DoneStore.
func (s KVDoneStore) MarkDone(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, kvTimeout)
	defer cancel()
	if _, err := s.KV.Put(ctx, kvKey(key), []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		return fmt.Errorf("writing %s: %w", bus.DoneBucket, err)
	}
	return nil
}

// JetStreamScheduler schedules re-checks with JetStream message schedules:
// a message on chatwarden.schedules.recheck.<id> that the server publishes
// to the event's own subject at the due time. Schedules are stored in the
// events stream, so they survive restarts of every process; scheduling the
// same re-check twice (a redelivered event) is deduplicated.
type JetStreamScheduler struct {
	JS         jetstream.JetStream
	Partitions int
}

// ScheduleRecheck implements Scheduler. Schedules have one-second
// resolution; at is rounded up so a re-check never runs early.
func (s JetStreamScheduler) ScheduleRecheck(ctx context.Context, re *event.Event, at time.Time) error {
	if t := at.Truncate(time.Second); !t.Equal(at) {
		at = t.Add(time.Second)
	}
	data, err := re.Encode()
	if err != nil {
		return fmt.Errorf("encoding re-check %s: %w", re.ID, err)
	}
	msg := &nats.Msg{Subject: bus.SchedulePrefix + ".recheck." + re.ID, Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, "schedule-"+re.ID)
	_, err = s.JS.PublishMsg(ctx, msg, jetstream.WithScheduleAt(at), jetstream.WithScheduleTarget(re.Subject(s.Partitions)),
		jetstream.WithExpectStream(bus.EventsStream))
	if err != nil {
		return fmt.Errorf("scheduling re-check %s at %s: %w", re.ID, at.Format(time.RFC3339), err)
	}
	return nil
}
